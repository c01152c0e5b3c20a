// Local S3 and SQS servers for coco's AmazonS3 specs and benchmark, both on
// 127.0.0.1 with ports picked by the kernel:
//   s3rver (S3) serving DIR, with the buckets named on the command line
//   fauxqs (SQS, JSON protocol)
//   a control server: GET /stats gives the S3 requests counted so far by
//   kind ({"list":N,"get":N,"head":N,"put":N,"delete":N,"other":N}),
//   POST /reset zeroes them
// Prints one line, {"s3":PORT,"sqs":PORT,"ctl":PORT}, once all listen; exits
// when its stdin closes (the spec that started it is gone) or on
// SIGTERM/SIGINT.
//
//   NODE_OPTIONS=--openssl-legacy-provider node serve.js DIR [BUCKET...]
//
// s3rver's continuation tokens use DES, which OpenSSL 3 keeps in the legacy
// provider: without the option every truncated ListObjectsV2 page is a 500.
'use strict';
const http = require('http');
const path = require('path');
const S3rver = require('s3rver');

async function main() {
  const [dir, ...buckets] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: node serve.js DIR [BUCKET...]\n');
    process.exit(2);
  }
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: path.resolve(dir),
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const s3addr = await s3.run();
  const zero = () => ({ list: 0, get: 0, head: 0, put: 0, delete: 0, other: 0 });
  let counts = zero();
  s3.httpServer.prependListener('request', (req) => {
    const q = req.url.indexOf('?');
    const p = q < 0 ? req.url : req.url.slice(0, q);
    const objectPath = p.indexOf('/', 1) > 0 && p.indexOf('/', 1) < p.length - 1;
    if (req.method === 'GET' && !objectPath && /[?&]list-type=2/.test(req.url)) counts.list++;
    else if (req.method === 'GET' && objectPath) counts.get++;
    else if (req.method === 'HEAD') counts.head++;
    else if (req.method === 'PUT') counts.put++;
    else if (req.method === 'DELETE') counts.delete++;
    else counts.other++;
  });
  const ctl = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/reset') counts = zero();
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(counts) + '\n');
  });
  await new Promise((resolve) => ctl.listen(0, '127.0.0.1', resolve));
  const { buildApp } = await import('fauxqs');
  const sqs = buildApp({ logger: false });
  await sqs.listen({ host: '127.0.0.1', port: 0 });
  const sqsPort = sqs.server.address().port;
  process.stdout.write(JSON.stringify({ s3: s3addr.port, sqs: sqsPort, ctl: ctl.address().port }) + '\n');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    ctl.close();
    await Promise.allSettled([s3.close(), sqs.close()]);
    process.exit(0);
  };
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`serve.js: ${e && e.stack || e}\n`);
  process.exit(1);
});
