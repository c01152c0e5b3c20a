// Puts COUNT objects of SIZE bytes of text into a bucket of a local S3
// server (s3rver takes unsigned requests), CONCURRENCY at a time, over
// kept-alive connections. Keys are PREFIX + a 5-digit number + ".txt"
// (byte order = s3rver's directory-walk order, so paging is exact).
//
//   node fill.js http://127.0.0.1:PORT BUCKET PREFIX COUNT SIZE [CONCURRENCY] [START]
'use strict';
const http = require('http');

const [endpoint, bucket, prefix, count, size, conc, start] = process.argv.slice(2);
if (!endpoint || !bucket || count === undefined || size === undefined) {
  process.stderr.write('usage: node fill.js ENDPOINT BUCKET PREFIX COUNT SIZE [CONCURRENCY] [START]\n');
  process.exit(2);
}
const url = new URL(endpoint);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conc || 16) });
const n = Number(count), sz = Number(size), first = Number(start || 0);

function body(i) {
  const line = `object ${i} of ${n}: the quick brown fox jumps over the lazy dog.\n`;
  let s = `# Document ${i}\n\n`;
  while (s.length < sz) s += line;
  return Buffer.from(s.slice(0, sz));
}

function put(i) {
  const key = prefix + String(i).padStart(5, '0') + '.txt';
  const path = '/' + bucket + '/' + key.split('/').map(encodeURIComponent).join('/');
  const data = body(i);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path, agent,
      headers: { 'Content-Length': data.length, 'Content-Type': 'text/plain' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${key}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  let next = first;
  const end = first + n;
  const workers = Array.from({ length: Number(conc || 16) }, async () => {
    while (next < end) await put(next++);
  });
  await Promise.all(workers);
  agent.destroy();
}

main().catch((e) => { process.stderr.write(`fill.js: ${e.message}\n`); process.exit(1); });
