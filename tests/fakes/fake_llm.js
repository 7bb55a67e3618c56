#!/usr/bin/env node
// fake_llm.js: a fake LLM provider on loopback for the tests and the benchmark (issue 4).
// Node's built-in modules only (no npm).
//
//   node tests/fakes/fake_llm.js [--port 0] [--delay-ms N] [--no-log] [--exit-with-stdin]
//
// Listens on 127.0.0.1 (port 0 = any free port), prints exactly `listening <port>` on stdout once
// ready and nothing else ever after; exits 0 on SIGTERM/SIGINT (and, with --exit-with-stdin, when
// its stdin reaches EOF, so a fake started by a test dies with the test process).
//   --delay-ms N   every answer is sent N ms after the request arrived (a step's delay_ms overrides it)
//   --no-log       do not record requests (GET /_control/requests then answers [])
//
// Wire formats
//   OpenAI     POST /v1/chat/completions   (base_url http://127.0.0.1:P/v1)
//   Anthropic  POST /v1/messages           (base_url http://127.0.0.1:P)
// Default answer (no scripted step queued): text "echo: " + the text of the last user message (the last
// message with role "user" that has text: a string content, or its {type:"text"} parts joined with
// "\n"; an Anthropic user message made only of tool_result blocks is skipped). When the request asks
// for JSON (OpenAI response_format.type "json_object"/"json_schema"; Anthropic: the system prompt
// contains the word JSON, any case) the text is instead {"echo":"<last user text>","ok":true}.
//   OpenAI:    {id, object:"chat.completion", created, model (the request's), choices:[{index:0,
//               message:{role:"assistant", content}, finish_reason:"stop"}],
//               usage:{prompt_tokens, completion_tokens, total_tokens}}
//   Anthropic: {id, type:"message", role:"assistant", model, content:[{type:"text", text}],
//               stop_reason:"end_turn", stop_sequence:null, usage:{input_tokens, output_tokens}}
//   Tokens: prompt = max(1, ceil((len(JSON.stringify(messages)) + len(system text)) / 4)),
//           completion = max(1, ceil(len(answer text, or the tool calls' name+arguments JSON) / 4)).
// A generated answer (default, `text`, `tool_call`) needs a well-formed request, as the real APIs do:
// a JSON object with a non-empty string `model` and a non-empty `messages` array of objects with a
// string `role`; Anthropic also needs an integer `max_tokens` and roles "user"/"assistant" only.
// Otherwise the answer is 400 with the provider's error shape (message says what is wrong).
//
// Scripted steps: POST /_control/enqueue with a JSON array of steps (or one step object). Steps are
// consumed FIFO, one per incoming chat request on either endpoint. Keys (all optional):
//   status     HTTP status (default 200); >= 400 without body/raw answers the provider's error shape
//   headers    {"Retry-After": "1", ...} added to the answer (they override the defaults)
//   body       a JSON value sent as the body instead of the generated answer
//   raw        a string sent verbatim as the body (Content-Type application/json), e.g. malformed JSON
//   delay_ms   answer after this many ms (overrides --delay-ms; applies to close/empty/raw/body too)
//   hang       true: never answer; the socket stays open until the client goes away
//   empty      true: answer `status` (default 200) with an empty body
//   close      true: destroy the connection without answering
//   tool_call  {name, arguments} (or an array of them): answer with tool call(s):
//                OpenAI message.tool_calls [{id:"call_<n>", type:"function", function:{name,
//                arguments:<JSON text; a string is sent as is>}}], content null (or `text`),
//                finish_reason "tool_calls";
//                Anthropic content [{type:"text",text} if `text`, {type:"tool_use", id:"toolu_<n>", name,
//                input}], stop_reason "tool_use". <n> counts tool calls from 1 (reset by /_control/reset).
//   text       the answer text instead of the default echo (verbatim, also in JSON mode)
//   usage      {prompt_tokens, completion_tokens} instead of the computed counts (Anthropic: input/output)
// At most one of hang/close/empty/raw/body per step, and tool_call/text not with any of them; unknown
// keys are rejected (400), so a typo in a test fails loudly.
//
// Control API (not counted, not logged):
//   POST /_control/enqueue   -> {queued: <steps now pending>}
//   GET  /_control/requests  -> [{path, method, headers (lower-case names), body (parsed JSON, or the
//                               raw string when not JSON), at (ms since the epoch)}] in arrival order
//   POST /_control/reset     -> clears the queue, the log, the counters and the tool-call numbering
//   GET  /_control/stats     -> {received, answered, in_flight, max_in_flight, pending}
//                               received = chat requests seen; answered = responses sent (any status);
//                               in_flight = received but neither answered nor gone (close/hang count
//                               until the connection is gone)
// Anything else: 404 {"error":{"type":"not_found","message":...}}.
//
// Built for ~10,000 concurrent keep-alive connections: no per-request output, no connection limit,
// keep-alive 60 s, no header/request timeouts (hang must hang), tiny per-request work.
'use strict';

const http = require('http');

function usage(msg) {
  process.stderr.write((msg ? msg + '\n' : '') +
    'usage: fake_llm.js [--port 0] [--delay-ms N] [--no-log] [--exit-with-stdin]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: 0, delayMs: 0, log: true, exitWithStdin: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v)) usage('bad value for ' + a + ': ' + v);
      return Number(v);
    };
    if (a === '--port') o.port = num();
    else if (a === '--delay-ms') o.delayMs = num();
    else if (a === '--no-log') o.log = false;
    else if (a === '--exit-with-stdin') o.exitWithStdin = true;
    else if (a === '-h' || a === '--help') usage();
    else usage('unknown argument: ' + a);
  }
  if (o.port > 65535) usage('bad port');
  return o;
}

const opts = parseArgs(process.argv.slice(2));

// ---- state ---------------------------------------------------------------------------------------

let queue = [];
let log = [];
let nextId = 1;      // answer ids
let nextToolId = 1;  // tool-call ids
const stats = { received: 0, answered: 0, in_flight: 0, max_in_flight: 0 };

// ---- helpers -------------------------------------------------------------------------------------

function readBody(req, cb) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => cb(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')));
  req.on('error', () => {});
}

function send(res, status, headers, text, ctype) {
  if (res.destroyed || res.writableEnded) return false;
  const h = {};
  if (ctype) h['Content-Type'] = ctype;
  h['Content-Length'] = Buffer.byteLength(text);
  if (headers) for (const k of Object.keys(headers)) h[k] = String(headers[k]);
  res.writeHead(status, h);
  res.end(text);
  return true;
}

function sendJson(res, status, value, headers) {
  return send(res, status, headers, JSON.stringify(value), 'application/json');
}

const tokens = (n) => Math.max(1, Math.ceil(n / 4));

function partsText(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return null;
  const out = [];
  for (const p of content) {
    if (p && p.type === 'text' && typeof p.text === 'string') out.push(p.text);
  }
  return out.length ? out.join('\n') : null;
}

function lastUserText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m && m.role === 'user') {
      const t = partsText(m.content);
      if (t !== null) return t;
    }
  }
  return '';
}

function systemText(sys) {
  if (typeof sys === 'string') return sys;
  const t = partsText(sys);
  return t === null ? '' : t;
}

const ERR_TYPES = {
  400: ['invalid_request_error', 'invalid_request_error'],
  401: ['invalid_request_error', 'authentication_error'],
  403: ['invalid_request_error', 'permission_error'],
  404: ['invalid_request_error', 'not_found_error'],
  413: ['invalid_request_error', 'request_too_large'],
  429: ['rate_limit_exceeded', 'rate_limit_error'],
  529: ['server_error', 'overloaded_error'],
};

function errorBody(kind, status, message) {
  const t = ERR_TYPES[status] || (status >= 500 ? ['server_error', 'api_error'] : ['invalid_request_error', 'invalid_request_error']);
  message = message || 'fake error ' + status;
  if (kind === 'anthropic') return { type: 'error', error: { type: t[1], message } };
  return { error: { message, type: t[0], param: null, code: status === 429 ? 'rate_limit_exceeded' : null } };
}

// Why the request cannot get a generated answer, or null.
function invalidRequest(kind, body) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'the body is not a JSON object';
  if (typeof body.model !== 'string' || body.model === '') return 'model: a non-empty string is required';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: a non-empty array is required';
  for (let i = 0; i < body.messages.length; i++) {
    const m = body.messages[i];
    if (m === null || typeof m !== 'object' || typeof m.role !== 'string') return 'messages[' + i + ']: an object with a string role is required';
    if (kind === 'anthropic' && m.role !== 'user' && m.role !== 'assistant') return 'messages[' + i + '].role: must be "user" or "assistant"';
  }
  if (kind === 'anthropic' && !Number.isInteger(body.max_tokens)) return 'max_tokens: an integer is required';
  return null;
}

function wantsJson(kind, body) {
  if (kind === 'openai') {
    const rf = body.response_format;
    return !!rf && (rf.type === 'json_object' || rf.type === 'json_schema');
  }
  return /\bjson\b/i.test(systemText(body.system));
}

function promptTokens(body) {
  return tokens(JSON.stringify(body.messages).length + systemText(body.system).length);
}

function generate(kind, body, step) {
  const text = step && typeof step.text === 'string' ? step.text
    : wantsJson(kind, body) ? JSON.stringify({ echo: lastUserText(body.messages), ok: true })
      : 'echo: ' + lastUserText(body.messages);
  let calls = step && step.tool_call;
  if (calls && !Array.isArray(calls)) calls = [calls];
  const hasText = !calls || (step && typeof step.text === 'string');
  let completionChars = hasText ? text.length : 0;
  if (calls) for (const c of calls) completionChars += c.name.length + JSON.stringify(c.arguments === undefined ? {} : c.arguments).length;
  const u = step && step.usage;
  const pt = u && Number.isInteger(u.prompt_tokens) ? u.prompt_tokens : promptTokens(body);
  const ct = u && Number.isInteger(u.completion_tokens) ? u.completion_tokens : tokens(completionChars);
  const n = nextId++;

  if (kind === 'openai') {
    const message = { role: 'assistant', content: hasText ? text : null };
    if (calls) {
      message.tool_calls = calls.map((c) => ({
        id: 'call_' + nextToolId++,
        type: 'function',
        function: {
          name: c.name,
          arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments === undefined ? {} : c.arguments),
        },
      }));
    }
    return {
      id: 'chatcmpl-fake-' + n,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message, finish_reason: calls ? 'tool_calls' : 'stop' }],
      usage: { prompt_tokens: pt, completion_tokens: ct, total_tokens: pt + ct },
    };
  }
  const content = [];
  if (hasText) content.push({ type: 'text', text });
  if (calls) {
    for (const c of calls) {
      let input = c.arguments === undefined ? {} : c.arguments;
      if (typeof input === 'string') { try { input = JSON.parse(input); } catch (e) { /* sent as is */ } }
      content.push({ type: 'tool_use', id: 'toolu_' + nextToolId++, name: c.name, input });
    }
  }
  return {
    id: 'msg_fake_' + n,
    type: 'message',
    role: 'assistant',
    model: body.model,
    content,
    stop_reason: calls ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: pt, output_tokens: ct },
  };
}

// ---- chat endpoints --------------------------------------------------------------------------------

function respond(req, res, kind, body, step) {
  if (res.destroyed || res.writableEnded || req.socket.destroyed) return; // the client went away
  if (step && step.close) { req.socket.destroy(); return; }
  const status = step && step.status !== undefined ? step.status : 200;
  const headers = step && step.headers;
  let sent;
  if (step && step.empty) sent = send(res, status, headers, '', null);
  else if (step && step.raw !== undefined) sent = send(res, status, headers, step.raw, 'application/json');
  else if (step && step.body !== undefined) sent = sendJson(res, status, step.body, headers);
  else if (status >= 400) sent = sendJson(res, status, errorBody(kind, status), headers);
  else {
    const why = invalidRequest(kind, body);
    if (why) sent = sendJson(res, 400, errorBody(kind, 400, why), headers);
    else sent = sendJson(res, status, generate(kind, body, step), headers);
  }
  if (sent) stats.answered++;
}

function chat(req, res, kind, path) {
  stats.received++;
  if (++stats.in_flight > stats.max_in_flight) stats.max_in_flight = stats.in_flight;
  let gone = false;
  res.on('close', () => { if (!gone) { gone = true; stats.in_flight--; } });
  readBody(req, (text) => {
    let body;
    try { body = JSON.parse(text); } catch (e) { body = text; }
    if (opts.log) log.push({ path, method: req.method, headers: req.headers, body, at: Date.now() });
    const step = queue.length ? queue.shift() : null;
    if (step && step.hang) return; // 'close' above settles in_flight when the client goes away
    const delay = step && step.delay_ms !== undefined ? step.delay_ms : opts.delayMs;
    const act = () => {
      try {
        respond(req, res, kind, body, step);
      } catch (e) {
        if (sendJson(res, 500, errorBody(kind, 500, 'fake_llm internal error: ' + e.message))) stats.answered++;
      }
    };
    if (delay > 0) setTimeout(act, delay); else act();
  });
}

// ---- control API -----------------------------------------------------------------------------------

const STEP_KEYS = new Set(['status', 'headers', 'body', 'raw', 'delay_ms', 'hang', 'empty', 'close', 'tool_call', 'text', 'usage']);

function checkStep(s, i) {
  const where = 'step ' + i + ': ';
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return where + 'must be an object';
  for (const k of Object.keys(s)) if (!STEP_KEYS.has(k)) return where + 'unknown key ' + JSON.stringify(k);
  if (s.status !== undefined && !(Number.isInteger(s.status) && s.status >= 200 && s.status <= 599)) return where + 'status must be an integer 200..599';
  if (s.headers !== undefined) {
    if (s.headers === null || typeof s.headers !== 'object' || Array.isArray(s.headers)) return where + 'headers must be an object';
    for (const k of Object.keys(s.headers)) {
      const v = s.headers[k];
      if (typeof v !== 'string' && typeof v !== 'number') return where + 'header ' + k + ' must be a string or number';
    }
  }
  if (s.raw !== undefined && typeof s.raw !== 'string') return where + 'raw must be a string';
  if (s.delay_ms !== undefined && !(typeof s.delay_ms === 'number' && s.delay_ms >= 0)) return where + 'delay_ms must be a number >= 0';
  for (const k of ['hang', 'empty', 'close']) if (s[k] !== undefined && typeof s[k] !== 'boolean') return where + k + ' must be a boolean';
  if (s.text !== undefined && typeof s.text !== 'string') return where + 'text must be a string';
  if (s.usage !== undefined && (s.usage === null || typeof s.usage !== 'object')) return where + 'usage must be an object';
  if (s.tool_call !== undefined) {
    const calls = Array.isArray(s.tool_call) ? s.tool_call : [s.tool_call];
    if (calls.length === 0) return where + 'tool_call must not be empty';
    for (const c of calls) {
      if (c === null || typeof c !== 'object' || typeof c.name !== 'string' || c.name === '') return where + 'tool_call needs a name';
    }
  }
  const terminal = ['hang', 'close', 'empty', 'raw', 'body'].filter((k) => s[k] !== undefined && s[k] !== false);
  if (terminal.length > 1) return where + 'at most one of ' + terminal.join(', ');
  if (terminal.length && (s.tool_call !== undefined || s.text !== undefined)) return where + terminal[0] + ' cannot be combined with tool_call/text';
  return null;
}

function control(req, res, path) {
  readBody(req, (text) => {
    const m = req.method;
    if (path === '/_control/enqueue' && m === 'POST') {
      let steps;
      try { steps = JSON.parse(text); } catch (e) { return sendJson(res, 400, { error: 'body is not JSON: ' + e.message }); }
      if (!Array.isArray(steps)) steps = [steps];
      for (let i = 0; i < steps.length; i++) {
        const why = checkStep(steps[i], i);
        if (why) return sendJson(res, 400, { error: why });
      }
      for (const s of steps) queue.push(s);
      return sendJson(res, 200, { queued: queue.length });
    }
    if (path === '/_control/requests' && m === 'GET') return sendJson(res, 200, log);
    if (path === '/_control/reset' && m === 'POST') {
      queue = [];
      log = [];
      nextId = 1;
      nextToolId = 1;
      stats.received = 0;
      stats.answered = 0;
      stats.max_in_flight = stats.in_flight;
      return sendJson(res, 200, { ok: true });
    }
    if (path === '/_control/stats' && m === 'GET') {
      return sendJson(res, 200, Object.assign({}, stats, { pending: queue.length }));
    }
    return notFound(req, res, path);
  });
}

function notFound(req, res, path) {
  sendJson(res, 404, { error: { type: 'not_found', message: 'no route for ' + req.method + ' ' + path } });
}

// ---- server ----------------------------------------------------------------------------------------

const server = http.createServer({ requestTimeout: 0, headersTimeout: 0, noDelay: true }, (req, res) => {
  const url = req.url;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (req.method === 'POST' && path === '/v1/chat/completions') return chat(req, res, 'openai', path);
  if (req.method === 'POST' && path === '/v1/messages') return chat(req, res, 'anthropic', path);
  if (path.startsWith('/_control/')) return control(req, res, path);
  readBody(req, () => notFound(req, res, path));
});
server.keepAliveTimeout = 60000;
server.timeout = 0;
server.requestTimeout = 0;
server.headersTimeout = 0;
server.maxRequestsPerSocket = 0;
server.maxConnections = Infinity;

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close();
  if (server.closeAllConnections) server.closeAllConnections();
  setImmediate(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (opts.exitWithStdin) {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

server.on('error', (e) => {
  process.stderr.write('fake_llm: ' + e.message + '\n');
  process.exit(1);
});
server.listen({ port: opts.port, host: '127.0.0.1', backlog: 65535 }, () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});
