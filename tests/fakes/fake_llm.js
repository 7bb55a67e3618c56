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
//   headers    {"Retry-After": "1", ...} added to the answer (not Content-Length, Transfer-Encoding,
//              Connection, Keep-Alive or Date: the fake frames the answer itself)
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
// keep-alive 60 s, no header/request timeouts (hang must hang), tiny per-request work (HTTP/1.1 is
// spoken on `net` directly, see below). Needs `ulimit -n` above the number of connections.
'use strict';

const http = require('http'); // STATUS_CODES only
const net = require('net');

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

// ---- HTTP/1.1 on net ------------------------------------------------------------------------------
// A small HTTP/1.1 server on `net` instead of `http`: node's http layer costs ~2.5x the CPU per request
// (streams, IncomingMessage/ServerResponse objects), which matters with 10,000 calls in flight.
// Supported: Content-Length and chunked request bodies, Expect: 100-continue, keep-alive (HTTP/1.1
// default, HTTP/1.0 with "Connection: keep-alive"), "Connection: close", pipelined requests (answered
// in order: a connection handles one request at a time), a client's FIN (abandons a pending answer,
// as node's http server does).

const STATUS_TEXT = http.STATUS_CODES;
const MAX_HEAD = 64 * 1024;           // request line + headers
const MAX_BODY = 64 * 1024 * 1024;
const KEEPALIVE_MS = 60000;           // idle keep-alive connections are closed after this
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQ_LINE_RE = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/;

let dateCache = '';
let dateSec = -1;
function httpDate() {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateSec) { dateSec = s; dateCache = new Date(s * 1000).toUTCString(); }
  return dateCache;
}

const conns = new Set();

class Conn {
  constructor(sock) {
    this.sock = sock;
    this.buf = null;        // unparsed bytes (header phase, chunked bodies)
    this.parts = null;      // body bytes still arriving for a Content-Length body
    this.partsLen = 0;
    this.head = null;       // the parsed head of the request being received
    this.cur = null;        // the request being answered: {done}
    this.closed = false;
    this.peerEnded = false;
    this.idleSince = Date.now();
    sock.setNoDelay(true);
    sock.on('data', (d) => this.onData(d));
    // The client's FIN: like node's http server, a request still being answered is abandoned (a client
    // that timed out and closed its socket is gone; this is how `hang` learns about it).
    sock.on('end', () => { this.peerEnded = true; if (this.cur) sock.destroy(); else sock.end(); });
    sock.on('error', () => {});
    sock.on('close', () => this.onClose());
    conns.add(this);
  }

  onClose() {
    this.closed = true;
    conns.delete(this);
    if (this.cur && !this.cur.done) {
      this.cur.done = true;
      if (this.cur.chat) stats.in_flight--;
    }
    if (this.cur && this.cur.timer) clearTimeout(this.cur.timer);
    this.cur = null;
    this.buf = this.parts = null;
  }

  onData(d) {
    if (this.parts) {                 // a Content-Length body is still arriving
      this.parts.push(d);
      this.partsLen += d.length;
      if (this.partsLen < this.head.need) return;
      this.buf = Buffer.concat(this.parts, this.partsLen);
      this.parts = null;
    } else {
      this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    }
    if (!this.cur) this.parse();
    else if (this.buf && this.buf.length > MAX_HEAD + MAX_BODY) this.sock.destroy(); // a client that never stops
  }

  fail(status, message) {
    this.buf = this.parts = null;
    this.cur = { done: false, chat: false };
    this.write(status, null, JSON.stringify({ error: { type: 'bad_request', message } }), 'application/json', true);
  }

  // Parses as many complete requests as the buffer holds, one at a time (the next waits for the answer).
  parse() {
    while (!this.cur && !this.closed && this.buf && this.buf.length) {
      let h = this.head;
      const buf = this.buf;
      if (!h) {
        const he = buf.indexOf('\r\n\r\n');
        if (he < 0) {
          if (buf.length > MAX_HEAD) this.fail(431, 'request head too large');
          return;
        }
        if (he > MAX_HEAD) return this.fail(431, 'request head too large');
        const lines = buf.toString('latin1', 0, he).split('\r\n');
        const m = REQ_LINE_RE.exec(lines[0]);
        if (!m) return this.fail(400, 'bad request line');
        const headers = {};
        for (let i = 1; i < lines.length; i++) {
          const line = lines[i];
          const c = line.indexOf(':');
          if (c <= 0) return this.fail(400, 'bad header line');
          const name = line.slice(0, c).toLowerCase();
          if (!TOKEN_RE.test(name)) return this.fail(400, 'bad header name');
          const value = line.slice(c + 1).trim();
          headers[name] = headers[name] === undefined ? value : headers[name] + ', ' + value;
        }
        const te = headers['transfer-encoding'];
        const cl = headers['content-length'];
        const chunked = te !== undefined && /(^|,)\s*chunked\s*$/i.test(te);
        if (te !== undefined && (!chunked || cl !== undefined)) return this.fail(400, 'unsupported transfer-encoding');
        if (cl !== undefined && !/^\d+$/.test(cl)) return this.fail(400, 'bad content-length');
        const len = chunked ? 0 : (cl === undefined ? 0 : Number(cl));
        if (len > MAX_BODY) return this.fail(413, 'body too large');
        const conn = (headers.connection || '').toLowerCase();
        const keepAlive = m[3] === '1' ? !/\bclose\b/.test(conn) : /\bkeep-alive\b/.test(conn);
        h = this.head = {
          method: m[1], target: m[2], headers, keepAlive, chunked,
          bodyStart: he + 4, need: he + 4 + len, continued: false,
        };
      }
      let body;
      let rest;
      if (h.chunked) {
        const r = dechunk(buf, h.bodyStart);
        if (r === null) return this.fail(400, 'bad chunked body');
        if (r === undefined) { this.expectContinue(h); return; }
        body = r.body;
        rest = r.end;
      } else {
        if (buf.length < h.need) {
          this.expectContinue(h);
          this.parts = [buf];         // gather the rest without re-concatenating on every chunk
          this.partsLen = buf.length;
          this.buf = null;
          return;
        }
        body = buf.toString('utf8', h.bodyStart, h.need);
        rest = h.need;
      }
      this.buf = rest < buf.length ? buf.subarray(rest) : null;
      this.head = null;
      this.idleSince = 0;
      dispatch(this, h, body);
    }
    if (!this.cur && this.peerEnded && !this.closed) this.sock.end();
  }

  expectContinue(h) {
    if (!h.continued && (h.headers.expect || '').toLowerCase() === '100-continue') {
      h.continued = true;
      this.sock.write('HTTP/1.1 100 Continue\r\n\r\n');
    }
  }

  // Sends one complete answer for the current request; returns whether it was written.
  write(status, extra, text, ctype, forceClose) {
    const cur = this.cur;
    if (!cur || cur.done || this.closed) return false;
    cur.done = true;
    if (cur.chat) stats.in_flight--;
    const close = forceClose || !cur.keepAlive || this.peerEnded;
    let s = 'HTTP/1.1 ' + status + ' ' + (STATUS_TEXT[status] || 'Unknown') + '\r\nDate: ' + httpDate() + '\r\n';
    if (ctype) s += 'Content-Type: ' + ctype + '\r\n';
    s += 'Content-Length: ' + Buffer.byteLength(text) + '\r\n';
    s += close ? 'Connection: close\r\n' : 'Connection: keep-alive\r\nKeep-Alive: timeout=' + KEEPALIVE_MS / 1000 + '\r\n';
    if (extra) for (const k of Object.keys(extra)) s += k + ': ' + extra[k] + '\r\n';
    s += '\r\n';
    if (cur.method !== 'HEAD') s += text;
    this.cur = null;
    if (close) {
      this.sock.end(s);
      return true;
    }
    this.sock.write(s);
    this.idleSince = Date.now();
    if (this.buf) this.parse();
    return true;
  }

  // Drops the connection without an answer (the `close` step).
  drop() {
    this.sock.destroy();
  }
}

// Decodes a chunked body starting at `at`: {body, end} when complete, undefined when more bytes are
// needed, null when malformed. Trailers are skipped.
function dechunk(buf, at) {
  const parts = [];
  let total = 0;
  for (;;) {
    const le = buf.indexOf('\r\n', at);
    if (le < 0) return buf.length - at > 1024 ? null : undefined;
    const size = parseInt(buf.toString('latin1', at, le).split(';')[0].trim(), 16);
    if (!Number.isFinite(size) || size < 0) return null;
    at = le + 2;
    if (size === 0) {
      for (;;) {                      // trailers up to an empty line
        const te = buf.indexOf('\r\n', at);
        if (te < 0) return undefined;
        if (te === at) return { body: Buffer.concat(parts, total).toString('utf8'), end: te + 2 };
        at = te + 2;
      }
    }
    if (buf.length < at + size + 2) return undefined;
    if (buf[at + size] !== 13 || buf[at + size + 1] !== 10) return null;
    parts.push(buf.subarray(at, at + size));
    total += size;
    if (total > MAX_BODY) return null;
    at += size + 2;
  }
}

// One complete request: route it.
function dispatch(conn, h, text) {
  const q = h.target.indexOf('?');
  const path = q < 0 ? h.target : h.target.slice(0, q);
  const req = { conn, method: h.method, path, headers: h.headers, text };
  conn.cur = { done: false, chat: false, keepAlive: h.keepAlive, method: h.method, timer: null };
  try {
    if (h.method === 'POST' && path === '/v1/chat/completions') return chat(req, 'openai');
    if (h.method === 'POST' && path === '/v1/messages') return chat(req, 'anthropic');
    if (path.startsWith('/_control/')) return control(req);
    return notFound(req);
  } catch (e) {
    sendJson(req, 500, { error: { type: 'internal', message: 'fake_llm internal error: ' + e.message } });
  }
}

function send(req, status, headers, text, ctype) {
  return req.conn.write(status, headers, text, ctype, false);
}

function sendJson(req, status, value, headers) {
  return send(req, status, headers, JSON.stringify(value), 'application/json');
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

function respond(req, kind, body, step) {
  if (step && step.close) { req.conn.drop(); return; }
  const status = step && step.status !== undefined ? step.status : 200;
  const headers = step && step.headers;
  let sent;
  if (step && step.empty) sent = send(req, status, headers, '', null);
  else if (step && step.raw !== undefined) sent = send(req, status, headers, step.raw, 'application/json');
  else if (step && step.body !== undefined) sent = sendJson(req, status, step.body, headers);
  else if (status >= 400) sent = sendJson(req, status, errorBody(kind, status), headers);
  else {
    const why = invalidRequest(kind, body);
    if (why) sent = sendJson(req, 400, errorBody(kind, 400, why), headers);
    else sent = sendJson(req, status, generate(kind, body, step), headers);
  }
  if (sent) stats.answered++;
}

function chat(req, kind) {
  const cur = req.conn.cur;
  cur.chat = true;
  stats.received++;
  if (++stats.in_flight > stats.max_in_flight) stats.max_in_flight = stats.in_flight;
  let body;
  try { body = JSON.parse(req.text); } catch (e) { body = req.text; }
  if (opts.log) log.push({ path: req.path, method: req.method, headers: req.headers, body, at: Date.now() });
  const step = queue.length ? queue.shift() : null;
  if (step && step.hang) return; // the connection's 'close' settles in_flight when the client goes away
  const delay = step && step.delay_ms !== undefined ? step.delay_ms : opts.delayMs;
  const act = () => {
    cur.timer = null;
    if (cur.done) return; // the client went away
    try {
      respond(req, kind, body, step);
    } catch (e) {
      if (sendJson(req, 500, errorBody(kind, 500, 'fake_llm internal error: ' + e.message))) stats.answered++;
    }
  };
  if (delay > 0) cur.timer = setTimeout(act, delay); else act();
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
    const bad = checkHeaders(s.headers, where);
    if (bad) return bad;
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

const HOP_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);

function checkHeaders(hs, where) {
  for (const k of Object.keys(hs)) {
    const v = hs[k];
    if (!TOKEN_RE.test(k)) return where + 'bad header name ' + JSON.stringify(k);
    if (HOP_HEADERS.has(k.toLowerCase())) return where + 'header ' + k + ' is set by the fake';
    if (typeof v !== 'string' && typeof v !== 'number') return where + 'header ' + k + ' must be a string or number';
    if (/[\r\n]/.test(String(v))) return where + 'header ' + k + ' must not contain CR/LF';
  }
  return null;
}

function control(req) {
  const m = req.method;
  const path = req.path;
  if (path === '/_control/enqueue' && m === 'POST') {
    let steps;
    try { steps = JSON.parse(req.text); } catch (e) { return sendJson(req, 400, { error: 'body is not JSON: ' + e.message }); }
    if (!Array.isArray(steps)) steps = [steps];
    for (let i = 0; i < steps.length; i++) {
      const why = checkStep(steps[i], i);
      if (why) return sendJson(req, 400, { error: why });
    }
    for (const s of steps) queue.push(s);
    return sendJson(req, 200, { queued: queue.length });
  }
  if (path === '/_control/requests' && m === 'GET') return sendJson(req, 200, log);
  if (path === '/_control/reset' && m === 'POST') {
    queue = [];
    log = [];
    nextId = 1;
    nextToolId = 1;
    stats.received = 0;
    stats.answered = 0;
    stats.max_in_flight = stats.in_flight;
    return sendJson(req, 200, { ok: true });
  }
  if (path === '/_control/stats' && m === 'GET') {
    return sendJson(req, 200, Object.assign({}, stats, { pending: queue.length }));
  }
  return notFound(req);
}

function notFound(req) {
  sendJson(req, 404, { error: { type: 'not_found', message: 'no route for ' + req.method + ' ' + req.path } });
}

// ---- server ----------------------------------------------------------------------------------------

const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (sock) => { new Conn(sock); });

// Idle keep-alive connections: one sweep every few seconds instead of a timer per request.
setInterval(() => {
  const limit = Date.now() - KEEPALIVE_MS;
  for (const c of conns) if (!c.cur && c.idleSince && c.idleSince < limit && !c.head && !c.parts) c.sock.destroy();
}, 5000).unref();

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close();
  for (const c of conns) c.sock.destroy();
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
