// A loopback stand-in for Google Drive API v3 and Google's OAuth 2.0 token
// endpoint, for coco's GoogleDrive specs and benchmark. No Drive emulator
// exists (none on npm, none in Debian), so this implements the subset the
// connector uses, with the shapes and errors of the real service:
//
//   POST /token                           jwt-bearer grant: the assertion's
//                                         RS256 signature is verified with the
//                                         public half of the test key, and its
//                                         claims (iss, scope, aud, iat, exp)
//   GET  /drive/v3/files?q='ID' in parents and trashed = false
//                                         pageSize (<= 1000), pageToken, fields
//                                         (no nextPageToken unless asked for),
//                                         supportsAllDrives / includeItemsFromAllDrives
//   GET  /drive/v3/files/ID               metadata; ?alt=media: the content
//   GET  /drive/v3/files/ID/export?mimeType=
//                                         Docs/Sheets/Slides/Drawings; 403
//                                         exportSizeLimitExceeded over 10 MB
//   GET  /drive/v3/changes/startPageToken
//   GET  /drive/v3/changes?pageToken=     the last state of each changed file,
//                                         removed: true for deleted/unshared
//
// Every API request needs "Authorization: Bearer <a token /token issued>"
// that has not expired (else 401, as Google answers).
//
// The spec drives it through /ctl (no auth): POST /ctl/files (put, trash,
// delete, fill), /ctl/fail (the next N requests of a kind get a status and
// reason), /ctl/config (token_ttl, page_max, revoke), /ctl/reset; GET
// /ctl/stats (requests by kind).
//
//   node drive.js --creds OUT.json [--email EMAIL]
//
// Makes an RSA key pair at start (node crypto; no key is ever committed),
// writes the service-account JSON key file to OUT.json (token_uri pointing
// here), listens on 127.0.0.1 with a port picked by the kernel, prints
// {"port":N} on one line, and exits when its stdin closes (the spec that
// started it is gone) or on SIGTERM/SIGINT.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.creds) {
  process.stderr.write('usage: node drive.js --creds OUT.json [--email EMAIL]\n');
  process.exit(2);
}
const EMAIL = args.email || 'coco-indexer@coco-spec.iam.gserviceaccount.com';
const KEY_ID = crypto.randomBytes(20).toString('hex');
const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const SCOPE = 'https://www.googleapis.com/auth/drive.readonly';
const FOLDER = 'application/vnd.google-apps.folder';
const SHORTCUT = 'application/vnd.google-apps.shortcut';
const EXPORTS = {
  'application/vnd.google-apps.document': ['text/markdown', 'text/plain', 'text/html', 'application/pdf'],
  'application/vnd.google-apps.spreadsheet': ['text/csv', 'text/tab-separated-values', 'application/pdf'],
  'application/vnd.google-apps.presentation': ['text/plain', 'application/pdf'],
  'application/vnd.google-apps.drawing': ['image/svg+xml', 'image/png', 'application/pdf'],
};
const EXPORT_LIMIT = 10 * 1024 * 1024;

let port = 0;
let files, log, vc, tokens, fails, conf, stats;
function reset() {
  files = new Map();     // id -> file
  log = [];              // changelog: file ids, in order
  vc = 100;              // version counter (monotonic, over every file)
  fails = [];
  conf = { token_ttl: 3600, page_max: 1000, empty_page: false };
  tokens = new Map();    // access token -> expiry (ms)
  resetStats();
}
function resetStats() {
  stats = { token: 0, token_refused: 0, list: 0, get: 0, media: 0, export: 0, start: 0, changes: 0,
    unauthorized: 0, injected: 0, other: 0, pages: [] };
}
reset();

// ---- answers ----------------------------------------------------------------

function send(res, status, obj, headers) {
  const body = typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj);
  res.writeHead(status, Object.assign({ 'Content-Type': typeof obj === 'object' && !Buffer.isBuffer(obj) ?
    'application/json; charset=UTF-8' : 'application/octet-stream', 'Content-Length': Buffer.byteLength(body) },
  headers || {}));
  res.end(body);
}
function apiError(res, status, reason, message, headers) {
  send(res, status, { error: { code: status, message, errors: [{ domain: 'global', reason, message }] } }, headers);
}
function notFound(res, id) { apiError(res, 404, 'notFound', 'File not found: ' + id + '.'); }

// ---- OAuth token endpoint ------------------------------------------------------

function b64urlJson(s) {
  try { return JSON.parse(Buffer.from(s, 'base64url').toString('utf8')); } catch (e) { return null; }
}

function token(req, res, body) {
  const refuse = (error, description) => {
    stats.token_refused++;
    send(res, 400, { error, error_description: description });
  };
  if ((req.headers['content-type'] || '').split(';')[0] !== 'application/x-www-form-urlencoded')
    return refuse('invalid_request', 'Bad Request');
  const form = new URLSearchParams(body.toString('utf8'));
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
    return refuse('unsupported_grant_type', 'Invalid grant_type: ' + form.get('grant_type'));
  const parts = (form.get('assertion') || '').split('.');
  if (parts.length !== 3) return refuse('invalid_grant', 'Invalid JWT: not three segments.');
  const head = b64urlJson(parts[0]), claims = b64urlJson(parts[1]);
  if (!head || !claims) return refuse('invalid_grant', 'Invalid JWT: segments are not base64url JSON.');
  if (/[=+/]/.test(parts.join(''))) return refuse('invalid_grant', 'Invalid JWT: not base64url without padding.');
  if (head.alg !== 'RS256' || head.typ !== 'JWT') return refuse('invalid_grant', 'Invalid JWT: alg must be RS256.');
  if (head.kid !== undefined && head.kid !== KEY_ID) return refuse('invalid_grant', 'Invalid JWT Signature.');
  const ok = crypto.verify('RSA-SHA256', Buffer.from(parts[0] + '.' + parts[1]), publicKey,
    Buffer.from(parts[2], 'base64url'));
  if (!ok) return refuse('invalid_grant', 'Invalid JWT Signature.');
  if (claims.iss !== EMAIL) return refuse('invalid_grant', 'Invalid JWT: unknown issuer.');
  if (claims.aud !== 'http://127.0.0.1:' + port + '/token')
    return refuse('invalid_grant', 'Invalid JWT: audience is not the token URI.');
  if (!String(claims.scope || '').split(' ').includes(SCOPE))
    return refuse('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
  const now = Date.now() / 1000;
  if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp) || Math.abs(claims.iat - now) > 300 ||
      claims.exp <= claims.iat || claims.exp - claims.iat > 3600)
    return refuse('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
  const t = 'ya29.fixture-' + crypto.randomBytes(18).toString('base64url');
  tokens.set(t, Date.now() + conf.token_ttl * 1000);
  send(res, 200, { access_token: t, expires_in: conf.token_ttl, token_type: 'Bearer' });
}

// ---- Drive ------------------------------------------------------------------------

function resource(f) {
  const r = { kind: 'drive#file', id: f.id, name: f.name, mimeType: f.mimeType, parents: f.parents,
    trashed: !!f.trashed, modifiedTime: f.modifiedTime, version: String(f.version) };
  if (f.driveId) r.driveId = f.driveId;
  if (!f.mimeType.startsWith('application/vnd.google-apps.')) {
    const bytes = Buffer.from(f.content || '', f.encoding || 'utf8');
    r.size = String(f.size !== undefined ? f.size : bytes.length);
    r.md5Checksum = crypto.createHash('md5').update(bytes).digest('hex');
  }
  if (f.mimeType === SHORTCUT) r.shortcutDetails = { targetId: f.target, targetMimeType: f.targetMimeType };
  return r;
}

// Visible to the service account: shared with it (not hidden), and for
// shared-drive items only with supportsAllDrives.
function visible(f, q, listing) {
  if (!f || f.hidden || f.deleted) return false;
  if (f.driveId && q.get('supportsAllDrives') !== 'true') return false;
  if (f.driveId && listing && q.get('includeItemsFromAllDrives') !== 'true') return false;
  return true;
}

function fieldsHas(q, name) {
  const f = q.get('fields');
  return !f || f === '*' || f.split(',').some((x) => x.trim() === name);
}

function list(req, res, q) {
  const m = /^'((?:[^'\\]|\\.)*)' in parents and trashed = false$/.exec(q.get('q') || '');
  if (!m) return apiError(res, 400, 'invalid', 'Invalid Value');
  const parent = m[1].replace(/\\(.)/g, '$1');
  const size = Math.min(Number(q.get('pageSize') || 100), 1000, conf.page_max);
  if (!(size >= 1)) return apiError(res, 400, 'invalid', 'Invalid Value');
  const all = [];
  for (const f of files.values())
    if (visible(f, q, true) && !f.trashed && f.parents.includes(parent)) all.push(f);
  let start = 0, after_empty = false;
  if (q.get('pageToken')) {
    const t = /^p(\d+)(e?)$/.exec(q.get('pageToken'));
    if (!t) return apiError(res, 400, 'invalid', 'Invalid Value');
    start = Number(t[1]);
    after_empty = t[2] === 'e';
  }
  // "partial or empty pages are possible before the end": with empty_page,
  // every page after the first is preceded by an empty one
  const empty = conf.empty_page && start > 0 && !after_empty;
  const page = empty ? [] : all.slice(start, start + size);
  const out = { kind: 'drive#fileList', files: page.map(resource) };
  let next = start + page.length < all.length ? 'p' + (start + page.length) : null;
  if (empty) next = 'p' + start + 'e';
  if (next && fieldsHas(q, 'nextPageToken')) out.nextPageToken = next;
  stats.pages.push(page.length);
  send(res, 200, out);
}

function get(req, res, q, id) {
  const f = files.get(id);
  if (q.get('alt') === 'media') {
    if (!visible(f, q)) return notFound(res, id);
    if (f.mimeType.startsWith('application/vnd.google-apps.'))
      return apiError(res, 403, 'fileNotDownloadable', 'Only files with binary content can be downloaded. Use Export with Docs Editors files.');
    if (f.redirect && !q.get('redirected'))
      return send(res, 302, '', { Location: '/drive/v3/files/' + encodeURIComponent(id) + '?alt=media&supportsAllDrives=true&redirected=1' });
    if (f.content === undefined && f.size !== undefined) {
      // a large file: f.size bytes, streamed
      res.writeHead(200, { 'Content-Type': f.mimeType, 'Content-Length': f.size });
      const chunk = Buffer.alloc(65536, 'x');
      let left = f.size;
      const pump = () => {
        while (left > 0) {
          const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= c.length;
          if (!res.write(c)) return res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => { left = 0; });
      return pump();
    }
    return send(res, 200, Buffer.from(f.content || '', f.encoding || 'utf8'));
  }
  if (!visible(f, q)) return notFound(res, id);
  send(res, 200, resource(f));
}

function exportFile(req, res, q, id) {
  const f = files.get(id);
  if (!visible(f, q)) return notFound(res, id);
  const types = EXPORTS[f.mimeType];
  if (!types) return apiError(res, 403, 'fileNotExportable', 'Export only supports Docs Editors files.');
  const want = q.get('mimeType');
  if (!types.includes(want)) return apiError(res, 400, 'badRequest', 'The requested conversion is not supported.');
  if ((f.export_size || 0) > EXPORT_LIMIT || Buffer.byteLength(f.content || '') > EXPORT_LIMIT)
    return apiError(res, 403, 'exportSizeLimitExceeded', 'This file is too large to be exported.');
  send(res, 200, Buffer.from((f.exports && f.exports[want]) || f.content || ''), { 'Content-Type': want });
}

function startToken(req, res) {
  send(res, 200, { kind: 'drive#startPageToken', startPageToken: String(log.length + 1) });
}

function changes(req, res, q) {
  const t = q.get('pageToken');
  if (!/^\d+$/.test(t || '') || Number(t) < 1 || Number(t) > log.length + 1)
    return send(res, 400, { error: { code: 400, message: 'Invalid Value', errors: [{ domain: 'global',
      reason: 'invalid', message: 'Invalid Value', locationType: 'parameter', location: 'pageToken' }] } });
  const from = Number(t) - 1;
  const size = Math.min(Number(q.get('pageSize') || 100), 1000, conf.page_max);
  // the last state of each file changed since `from`, in the order of its last change
  const last = new Map();
  for (let i = from; i < log.length; i++) last.set(log[i], i);
  const entries = [...last.entries()].sort((a, b) => a[1] - b[1]);
  const page = entries.slice(0, size);
  const out = { kind: 'drive#changeList', changes: page.map(([id]) => {
    const f = files.get(id);
    if (!visible(f, q, true))
      return { kind: 'drive#change', changeType: 'file', removed: true, fileId: id, time: new Date().toISOString() };
    return { kind: 'drive#change', changeType: 'file', removed: false, fileId: id,
      time: f.modifiedTime, file: resource(f) };
  }) };
  if (entries.length > size) {
    // the next page starts after the last entry of this one
    const next = String(page[page.length - 1][1] + 2);
    if (fieldsHas(q, 'nextPageToken')) out.nextPageToken = next;
  } else if (fieldsHas(q, 'newStartPageToken')) {
    out.newStartPageToken = String(log.length + 1);
  }
  send(res, 200, out);
}

// ---- control -------------------------------------------------------------------------

function touch(f) {
  f.version = ++vc;
  f.modifiedTime = new Date().toISOString();
  log.push(f.id);
}

function put(op) {
  let f = files.get(op.id);
  if (!f) {
    f = { id: op.id, name: op.name || op.id, mimeType: 'text/plain', parents: [], trashed: false };
    files.set(op.id, f);
  }
  for (const k of ['name', 'mimeType', 'content', 'size', 'driveId', 'target', 'targetMimeType',
    'export_size', 'hidden', 'exports', 'encoding', 'redirect', 'trashed'])
    if (op[k] !== undefined) f[k] = op[k] === null ? undefined : op[k];
  if (op.parent !== undefined) f.parents = [op.parent];
  if (op.folder) f.mimeType = FOLDER;
  if (op.target) f.mimeType = SHORTCUT;
  f.deleted = false;
  touch(f);
}

function apply(op) {
  switch (op.op || 'put') {
  case 'put': return put(op);
  case 'trash': return put({ id: op.id, trashed: true });
  case 'untrash': return put({ id: op.id, trashed: false });
  case 'delete': {
    const f = files.get(op.id);
    if (f) { f.deleted = true; log.push(op.id); }
    return;
  }
  case 'fill':
    for (let i = 0; i < op.n; i++) {
      const name = (op.prefix || 'f') + String(i + (op.start || 0)).padStart(5, '0') + '.md';
      put({ id: (op.idprefix || op.parent + '-') + i, name, parent: op.parent, mimeType: 'text/markdown',
        content: '# Document ' + i + '\n\n' + 'Body text. '.repeat(op.words || 20) + '\n' });
    }
    return;
  default: throw new Error('unknown op ' + op.op);
  }
}

function ctl(req, res, path, body) {
  let v = {};
  try { v = body.length ? JSON.parse(body.toString('utf8')) : {}; } catch (e) { return send(res, 400, { error: 'bad json' }); }
  switch (path) {
  case '/ctl/reset': reset(); return send(res, 200, {});
  case '/ctl/files':
    try { (Array.isArray(v) ? v : [v]).forEach(apply); } catch (e) { return send(res, 400, { error: e.message }); }
    return send(res, 200, { start: String(log.length + 1), version: vc });
  case '/ctl/fail': fails.push(Object.assign({ count: 1 }, v)); return send(res, 200, {});
  case '/ctl/config':
    if (v.revoke) tokens.clear();
    for (const k of ['token_ttl', 'page_max', 'empty_page']) if (v[k] !== undefined) conf[k] = v[k];
    return send(res, 200, conf);
  case '/ctl/stats':
    if (req.method === 'POST') resetStats();
    return send(res, 200, Object.assign({ tokens_live: tokens.size }, stats));
  default: return send(res, 404, { error: 'no such control' });
  }
}

// ---- routing ----------------------------------------------------------------------------

function kindOf(path, q) {
  if (path === '/token') return 'token';
  if (path === '/drive/v3/files') return 'list';
  if (path === '/drive/v3/changes/startPageToken') return 'start';
  if (path === '/drive/v3/changes') return 'changes';
  if (/^\/drive\/v3\/files\/[^/]+\/export$/.test(path)) return 'export';
  if (/^\/drive\/v3\/files\/[^/]+$/.test(path)) return q.get('alt') === 'media' ? 'media' : 'get';
  return null;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const u = new URL(req.url, 'http://127.0.0.1');
    const path = u.pathname, q = u.searchParams;
    if (path.startsWith('/ctl/')) return ctl(req, res, path, body);
    const kind = kindOf(path, q);
    if (!kind) { stats.other++; return send(res, 404, 'Not Found'); }
    stats[kind]++;
    // an injected failure for this kind of request
    const fi = fails.findIndex((x) => x.kind === kind || x.kind === 'any');
    if (fi >= 0) {
      const x = fails[fi];
      if (--x.count <= 0) fails.splice(fi, 1);
      stats.injected++;
      const h = x.retry_after !== undefined ? { 'Retry-After': String(x.retry_after) } : undefined;
      if (x.status === 'drop') return req.socket.destroy();
      if (kind === 'token') return send(res, x.status, { error: x.reason || 'internal_failure' }, h);
      return apiError(res, x.status, x.reason || 'backendError', x.message || 'Injected failure', h);
    }
    if (kind === 'token') {
      if (req.method !== 'POST') return send(res, 405, 'Method Not Allowed');
      return token(req, res, body);
    }
    if (req.method !== 'GET') return apiError(res, 405, 'methodNotAllowed', 'Method Not Allowed');
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    const exp = m && tokens.get(m[1]);
    if (!exp || exp < Date.now()) {
      stats.unauthorized++;
      return send(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials. Expected OAuth 2 access token.', errors: [{ domain: 'global', reason: 'authError', message: 'Invalid Credentials', locationType: 'header', location: 'Authorization' }], status: 'UNAUTHENTICATED' } });
    }
    const id = decodeURIComponent((/^\/drive\/v3\/files\/([^/]+)/.exec(path) || [])[1] || '');
    switch (kind) {
    case 'list': return list(req, res, q);
    case 'get': case 'media': return get(req, res, q, id);
    case 'export': return exportFile(req, res, q, id);
    case 'start': return startToken(req, res);
    case 'changes': return changes(req, res, q);
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  port = server.address().port;
  const key = {
    type: 'service_account', project_id: 'coco-spec', private_key_id: KEY_ID,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), client_email: EMAIL,
    client_id: '100000000000000000001', auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'http://127.0.0.1:' + port + '/token',
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs', universe_domain: 'googleapis.com',
  };
  fs.writeFileSync(args.creds, JSON.stringify(key, null, 2), { mode: 0o600 });
  process.stdout.write(JSON.stringify({ port }) + '\n');
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
