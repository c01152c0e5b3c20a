// A stand-in for the OpenAI and Ollama HTTP APIs, for coco's EmbedText and
// ExtractByLlm specs and benchmark. It is a stand-in because the real
// services cannot run here: OpenAI is a paid remote service, and Ollama
// needs model weights and minutes of CPU per run. It implements the exact
// request and response shapes coco uses, and checks requests strictly:
//
//   POST /v1/embeddings        OpenAI (also vLLM, llama.cpp, LM Studio, TEI)
//   POST /api/embed            Ollama
//   POST /v1/chat/completions  OpenAI chat, response_format json_object
//   POST /api/chat             Ollama chat, format json, stream false
//
// The method, the path, Content-Type, the JSON body (known members only,
// types, non-empty inputs) and, when a key is configured, the header
// "Authorization: Bearer KEY" are checked; a violation is answered the way
// the real API answers it (400 with {"error": ...}, 401, 404, 405).
//
// Embeddings are deterministic, derived from the text: v[0] is the text's
// length in bytes, v[1] the sum of its bytes mod 997, v[2..] bits of its
// FNV-1a hash (k/256). Chat answers are derived from the user message:
// each "key: value" line becomes a member (integers as numbers).
//
// Behaviour comes from the JSON file given with --config, read at every
// request (absent: defaults); counters restart when its content changes:
//   key          the API key to require (null: none)
//   dim          vector size (default 8); dims: { model: size } per model;
//                a request's "dimensions" comes first
//   delay_ms     answer each request this late
//   hold_until   hold every answer until this many requests wait for theirs
//                at once, then let them all go (60 s at most): a spec sees
//                requests overlap instead of timing them
//   fail         [{ "status": 429, "retry_after": 1, "count": 2 }, ...]: the
//                first `count` requests get that status (in list order)
//   poison       inputs containing this text get a 400 with an error message
//   wrong_dim    inputs containing this text get a vector one too short
//   short        answer one embedding less than asked
//   malformed    answer a body that is not JSON
//   drop         close the connection after half a body: true for every
//                answer, N for the first N answers
//   echo_key     a 401 echoes the key it got (as OpenAI once did)
//
// Every request appends one JSON line to the --log file: { t (ms), method,
// path, status, inputs (count), texts, inflight (requests being answered,
// this one included), auth (the Authorization header was the expected
// one) }. The spec counts requests, inputs per request and the concurrency
// from it.
//
//   node fake_openai.js [--log FILE] [--config FILE] [--port N]
//
// Listens on 127.0.0.1, on port N or one picked by the kernel, prints
// {"port":N} on one line, exits when its stdin closes (the spec that started
// it is gone; a terminal's stdin is not watched, so `node fake_openai.js &`
// works by hand) or on SIGTERM/SIGINT.
'use strict';
const http = require('http');
const fs = require('fs');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (args.port !== undefined && !/^\d+$/.test(args.port)) {
  process.stderr.write('usage: node fake_openai.js [--log FILE] [--config FILE] [--port N]\n');
  process.exit(2);
}

let confText = null, conf = {}, served = 0, dropped = 0, gateOpen = false;
function config() {
  let t = '{}';
  if (args.config) {
    try { t = fs.readFileSync(args.config, 'utf8'); } catch (e) { t = '{}'; }
  }
  if (t !== confText) {
    confText = t;
    try { conf = JSON.parse(t); } catch (e) { conf = {}; }
    served = 0;
    dropped = 0;
    gateOpen = false;
  }
  return conf;
}

function fnv(s) {
  let h = 0x811c9dc5;
  const b = Buffer.from(s, 'utf8');
  for (const c of b) { h ^= c; h = Math.imul(h, 0x01000193) >>> 0; }
  return h;
}

// The vector as JSON text, built directly: a response carries up to
// thousands of numbers per input, and a benchmark pushes ~100 MB of them.
// v[k] for k >= 2 depends on k % 24 only, so one period of 24 numbers is
// built and repeated.
const FRAC = Array.from({ length: 256 }, (_, i) => String(i / 256));
function vectorJson(text, dim) {
  const b = Buffer.from(text, 'utf8');
  let sum = 0;
  for (const c of b) sum += c;
  const head = [String(b.length), String(sum % 997)].slice(0, dim);
  if (dim <= 2) return '[' + head.join(',') + ']';
  const h = fnv(text), period = new Array(24);
  for (let k = 2; k < 26; k++) period[k - 2] = FRAC[(h >>> (k % 24)) & 0xff];
  const n = dim - 2, rest = n % 24;
  let tail = (period.join(',') + ',').repeat((n - rest) / 24);
  tail = rest ? tail + period.slice(0, rest).join(',') : tail.slice(0, -1);
  return '[' + head.join(',') + ',' + tail + ']';
}

function answerOf(text) {
  const o = {};
  for (const line of text.split(/\n|;/)) {
    const m = /^\s*([A-Za-z_][\w]*)\s*:\s*(.*?)\s*$/.exec(line);
    if (m) o[m[1]] = /^-?\d+$/.test(m[2]) ? parseInt(m[2], 10) : m[2];
  }
  return o;
}

let inflight = 0;

// Answers held by hold_until, and the timer that lets them go at the latest.
let held = [], holdTimer = null;
function release() {
  gateOpen = true;
  if (holdTimer) clearTimeout(holdTimer);
  holdTimer = null;
  const h = held;
  held = [];
  for (const go of h) go();
}

function openaiError(status, message, type, code) {
  return [status, { error: { message, type: type || 'invalid_request_error', param: null, code: code || null } }];
}

function isStrArray(a) {
  return Array.isArray(a) && a.length > 0 && a.every((s) => typeof s === 'string');
}

// Checks the members of body: want = { name: 'string'|'number'|..., ... }.
function unknownMember(body, allowed) {
  for (const k of Object.keys(body)) if (!allowed.includes(k)) return k;
  return null;
}

// [status, body]: body is an object, or JSON text already.
function handle(req, body, c, rec) {
  const ollama = req.url.startsWith('/api/');
  const err = (status, msg) => ollama ? [status, { error: msg }] : openaiError(status, msg);
  const routes = ['/v1/embeddings', '/api/embed', '/v1/chat/completions', '/api/chat'];
  if (!routes.includes(req.url)) return err(404, `no route ${req.url}`);
  if (req.method !== 'POST') return err(405, `method ${req.method} not allowed`);
  const want = c.key ? `Bearer ${c.key}` : null;
  const auth = req.headers.authorization || null;
  rec.auth = want ? auth === want : auth === null;
  if (want && auth !== want) {
    const got = auth ? auth.replace(/^Bearer /, '') : '';
    const shown = c.echo_key ? got : got.slice(0, 3) + '***' + got.slice(-4);
    return ollama ? [401, { error: 'unauthorized' }]
      : openaiError(401, `Incorrect API key provided: ${shown}.`, 'invalid_request_error', 'invalid_api_key');
  }
  if (!/^application\/json/.test(req.headers['content-type'] || '')) return err(400, 'Content-Type must be application/json');
  let j;
  try { j = JSON.parse(body); } catch (e) { return err(400, 'We could not parse the JSON body of your request.'); }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return err(400, 'the body must be a JSON object');
  if (typeof j.model !== 'string' || !j.model) return err(400, 'you must provide a model parameter');

  if (req.url.endsWith('embeddings') || req.url === '/api/embed') {
    const bad = unknownMember(j, ollama ? ['model', 'input', 'truncate', 'options', 'keep_alive', 'dimensions']
      : ['model', 'input', 'encoding_format', 'dimensions', 'user']);
    if (bad) return err(400, `Unrecognized request argument supplied: ${bad}`);
    const input = typeof j.input === 'string' ? [j.input] : j.input;
    if (!isStrArray(input)) return err(400, "'input' must be a string or a non-empty array of strings");
    if (!ollama && input.some((s) => s === '')) return err(400, "'$.input' is invalid: empty string");
    if (!ollama && input.length > 2048) return err(400, "'$.input' must have at most 2048 items");
    if (j.encoding_format !== undefined && j.encoding_format !== 'float') return err(400, 'only float encoding here');
    rec.inputs = input.length;
    rec.texts = input;
    if (c.poison && input.some((s) => s.includes(c.poison))) {
      return err(400, `This model's maximum context length is 8192 tokens; input contains ${c.poison}`);
    }
    const dim = j.dimensions || (c.dims && c.dims[j.model]) || c.dim || 8;
    let vecs = input.map((s) => vectorJson(s, c.wrong_dim && s.includes(c.wrong_dim) ? dim - 1 : dim));
    if (c.short) vecs = vecs.slice(0, -1);
    const model = JSON.stringify(j.model);
    if (ollama) {
      return [200, `{"model":${model},"embeddings":[${vecs.join(',')}],"total_duration":1,` +
        `"load_duration":1,"prompt_eval_count":${input.length}}`];
    }
    const data = vecs.map((v, i) => `{"object":"embedding","index":${i},"embedding":${v}}`);
    return [200, `{"object":"list","data":[${data.join(',')}],"model":${model},` +
      `"usage":{"prompt_tokens":${input.length},"total_tokens":${input.length}}}`];
  }

  // chat
  const bad = unknownMember(j, ollama ? ['model', 'messages', 'format', 'stream', 'options', 'keep_alive']
    : ['model', 'messages', 'response_format', 'temperature', 'max_tokens', 'seed', 'user']);
  if (bad) return err(400, `Unrecognized request argument supplied: ${bad}`);
  if (!Array.isArray(j.messages) || !j.messages.length ||
      !j.messages.every((m) => m && typeof m.role === 'string' && typeof m.content === 'string')) {
    return err(400, "'messages' must be a non-empty array of { role, content }");
  }
  if (ollama ? (j.format !== 'json' || j.stream !== false)
    : !(j.response_format && j.response_format.type === 'json_object')) {
    return err(400, ollama ? 'expected format "json" and stream false' : 'expected response_format json_object');
  }
  if (!ollama && !j.messages.some((m) => /json/i.test(m.content))) {
    return err(400, "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.");
  }
  const user = j.messages.filter((m) => m.role === 'user').map((m) => m.content).join('\n');
  rec.inputs = 1;
  rec.texts = [user];
  if (c.poison && user.includes(c.poison)) return err(400, `input contains ${c.poison}`);
  const content = user.includes('BADANSWER') ? 'I would rather not.' : JSON.stringify(answerOf(user));
  if (ollama) return [200, { model: j.model, message: { role: 'assistant', content }, done: true }];
  return [200, { id: 'chatcmpl-fake', object: 'chat.completion', created: 0, model: j.model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }];
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    const c = config();
    const n = served++;
    inflight++;
    const rec = { t: Date.now(), method: req.method, path: req.url, inflight, inputs: 0, texts: [] };
    let status, body, headers = { 'Content-Type': 'application/json' };
    let k = n;
    for (const f of c.fail || []) {
      if (k < (f.count || 0)) {
        status = f.status;
        body = { error: { message: `injected ${f.status}`, type: 'server_error', param: null, code: null } };
        if (f.retry_after !== undefined) headers['Retry-After'] = String(f.retry_after);
        break;
      }
      k -= f.count || 0;
    }
    if (status === undefined) [status, body] = handle(req, Buffer.concat(chunks).toString('utf8'), c, rec);
    rec.status = status;
    if (args.log) fs.appendFileSync(args.log, JSON.stringify(rec) + '\n');
    const text = c.malformed && status === 200 ? '{"data": [{"embedding": [1,'
      : typeof body === 'string' ? body : JSON.stringify(body);
    const go = () => setTimeout(() => {
      if (status === 200 && (c.drop === true || dropped < (Number(c.drop) || 0))) {
        dropped++;
        res.writeHead(status, { ...headers, 'Content-Length': String(Buffer.byteLength(text)) });
        // the half body reaches the client, then the connection closes
        res.write(text.slice(0, text.length >> 1), () => {
          inflight--;
          res.socket.destroy();
        });
        return;
      }
      res.writeHead(status, headers);
      res.end(text, () => { inflight--; });
    }, c.delay_ms || 0);
    if (!c.hold_until || gateOpen) return go();
    held.push(go);
    if (inflight >= c.hold_until) release();
    else if (!holdTimer) holdTimer = setTimeout(release, 60000);
  });
});
server.keepAliveTimeout = 30000;

server.listen(Number(args.port || 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});

const stop = () => { server.close(); process.exit(0); };
if (!process.stdin.isTTY) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
