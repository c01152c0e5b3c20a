// A forwarding proxy in front of Azurite for the AzureBlob specs: it
// passes every request through unchanged, and after --drop-lists-after N
// List Blobs requests it cuts the connection of every later one (the
// service going down in the middle of a listing). Prints {"port": P} once
// listening; exits when stdin closes.
//
//   node proxy.js TARGET_PORT [--drop-lists-after N]
"use strict";
const http = require("http");

const target = +process.argv[2];
const i = process.argv.indexOf("--drop-lists-after");
const dropAfter = i > 0 ? +process.argv[i + 1] : Infinity;
let lists = 0;

const agent = new http.Agent({ keepAlive: true });
const server = http.createServer((req, res) => {
  if (/[?&]comp=list/.test(req.url) && ++lists > dropAfter) {
    req.socket.destroy();
    return;
  }
  const up = http.request({ agent, host: "127.0.0.1", port: target, method: req.method, path: req.url,
    headers: req.headers }, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  up.on("error", () => req.socket.destroy());
  req.pipe(up);
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
