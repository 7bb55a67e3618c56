#!/usr/bin/env node
// JWTs made by an implementation that is not ours: Node's built-in `crypto` module only (no npm).
//
//   node jwt_node.js mint '{"secret":"...","iss":"...","aud":"...","sub":"alice","scope":"tasks:read tasks:write"}'
//     prints {"case name": "token", ...} as JSON: good tokens, forged ones and edge cases (see CASES below).
//   node jwt_node.js verify SECRET TOKEN
//     checks an HS256 token's HMAC with SECRET (constant-time) and prints {"ok":true,"header":...,"payload":...};
//     exits 1 with {"ok":false,"why":...} when it does not verify.
'use strict';

const crypto = require('crypto');

const b64u = (buf) => Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
const b64uJson = (obj) => b64u(Buffer.from(JSON.stringify(obj), 'utf8'));
const fromB64u = (s) => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

function hs256(header, payload, key) {
  const input = b64uJson(header) + '.' + b64uJson(payload);
  const sig = crypto.createHmac('sha256', key).update(input).digest();
  return input + '.' + b64u(sig);
}

function mint(opts) {
  const now = Math.floor(Date.now() / 1000);
  const secret = opts.secret;
  const base = {
    sub: opts.sub || 'node-client',
    scope: opts.scope || 'tasks:read tasks:write',
    iat: now,
    nbf: now,
    exp: now + 3600,
  };
  if (opts.iss) base.iss = opts.iss;
  if (opts.aud) base.aud = opts.aud;
  const HS = { alg: 'HS256', typ: 'JWT' };
  const with_ = (extra) => Object.assign({}, base, extra);
  const without = (key) => { const p = Object.assign({}, base); delete p[key]; return p; };

  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsInput = b64uJson({ alg: 'RS256', typ: 'JWT' }) + '.' + b64uJson(base);
  const rsSig = crypto.sign('sha256', Buffer.from(rsInput), privateKey);

  const out = {
    // accepted
    good: hs256(HS, base, secret),
    good_aud_array: hs256(HS, with_({ aud: ['someone-else', opts.aud || 'x'] }), secret),
    admin: hs256(HS, with_({ sub: 'node-admin', scope: 'admin' }), secret),
    exp_past_10s: hs256(HS, with_({ exp: now - 10 }), secret),        // inside the default 30 s leeway
    nbf_future_10s: hs256(HS, with_({ nbf: now + 10 }), secret),      // inside the leeway
    // forged or invalid: 401
    alg_none: b64uJson({ alg: 'none', typ: 'JWT' }) + '.' + b64uJson(base) + '.',
    alg_none_sig: b64uJson({ alg: 'none', typ: 'JWT' }) + '.' + b64uJson(base) + '.' +
      b64u(crypto.createHmac('sha256', secret).update(b64uJson({ alg: 'none', typ: 'JWT' }) + '.' + b64uJson(base)).digest()),
    alg_None_case: hs256({ alg: 'hs256', typ: 'JWT' }, base, secret),
    no_alg: hs256({ typ: 'JWT' }, base, secret),
    wrong_key: hs256(HS, base, secret + '-but-not-quite'),
    rs256_header_hs_key: hs256({ alg: 'RS256', typ: 'JWT' }, base, secret),
    rs256_real: rsInput + '.' + b64u(rsSig),
    hs512: (() => {
      const input = b64uJson({ alg: 'HS512', typ: 'JWT' }) + '.' + b64uJson(base);
      return input + '.' + b64u(crypto.createHmac('sha512', secret).update(input).digest());
    })(),
    expired: hs256(HS, with_({ exp: now - 3600, nbf: now - 7200, iat: now - 7200 }), secret),
    exp_past_60s: hs256(HS, with_({ exp: now - 60 }), secret),        // outside the default 30 s leeway
    nbf_future: hs256(HS, with_({ nbf: now + 3600 }), secret),
    wrong_aud: hs256(HS, with_({ aud: 'another-audience' }), secret),
    wrong_iss: hs256(HS, with_({ iss: 'https://evil.example' }), secret),
    missing_aud: hs256(HS, without('aud'), secret),
    missing_iss: hs256(HS, without('iss'), secret),
    missing_exp: hs256(HS, without('exp'), secret),
    exp_string: hs256(HS, with_({ exp: String(now + 3600) }), secret),
    tampered_payload: (() => {
      const t = hs256(HS, base, secret).split('.');
      t[1] = b64uJson(with_({ scope: 'admin' }));
      return t.join('.');
    })(),
    truncated_sig: hs256(HS, base, secret).slice(0, -2),
    // the same signature bytes, but the unused low bits of the last base64url character set
    sig_noncanonical: (() => {
      const t = hs256(HS, base, secret);
      const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      return t.slice(0, -1) + A[A.indexOf(t.slice(-1)) ^ 1];
    })(),
    sig_padded: hs256(HS, base, secret) + '=',
    two_parts: b64uJson(HS) + '.' + b64uJson(base),
    garbage: 'not-a-token',
    // valid but lacking the route's scope: 403
    no_scope: hs256(HS, with_({ sub: 'node-reader', scope: 'agents:read' }), secret),
    read_only: hs256(HS, with_({ sub: 'node-ro', scope: 'tasks:read' }), secret),
    empty_scope: hs256(HS, with_({ sub: 'node-none', scope: '' }), secret),
    scope_prefix: hs256(HS, with_({ sub: 'node-prefix', scope: 'tasks:writer tasks:rea' }), secret),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function verify(secret, token) {
  const parts = token.trim().split('.');
  const fail = (why) => { process.stdout.write(JSON.stringify({ ok: false, why }) + '\n'); process.exit(1); };
  if (parts.length !== 3) fail('not three parts');
  const header = JSON.parse(fromB64u(parts[0]).toString('utf8'));
  const payload = JSON.parse(fromB64u(parts[1]).toString('utf8'));
  if (header.alg !== 'HS256') fail('alg is ' + header.alg);
  const want = crypto.createHmac('sha256', secret).update(parts[0] + '.' + parts[1]).digest();
  const got = fromB64u(parts[2]);
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) fail('HMAC does not verify');
  if (b64u(got) !== parts[2]) fail('signature is not canonical base64url');
  process.stdout.write(JSON.stringify({ ok: true, header, payload }) + '\n');
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'mint') mint(JSON.parse(a));
else if (mode === 'verify') verify(a, b);
else {
  process.stderr.write('usage: jwt_node.js mint JSON | verify SECRET TOKEN\n');
  process.exit(2);
}
