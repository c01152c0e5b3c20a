// A small Blob service client for the AzureBlob specs, signing with
// SharedKey as the service wants (Azurite checks it): containers, blobs,
// many blobs at once, deletes, and an account SAS token.
//
//   node blob.js ENDPOINT mkcontainer C
//   node blob.js ENDPOINT put C NAME FILE
//   node blob.js ENDPOINT fill C PREFIX N SIZE [START]   (16 at a time)
//   node blob.js ENDPOINT delete C NAME
//   node blob.js ENDPOINT sas PERMISSIONS                 (prints the token)
//
// ENDPOINT: http://127.0.0.1:PORT/devstoreaccount1. Account and key:
// AZ_ACCOUNT and AZ_KEY, else Azurite's well-known development account.
"use strict";
const http = require("http");
const crypto = require("crypto");
const fs = require("fs");

const ACCOUNT = process.env.AZ_ACCOUNT || "devstoreaccount1";
const KEY = Buffer.from(process.env.AZ_KEY ||
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==", "base64");
const VERSION = "2021-08-06";
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function hmac(s) { return crypto.createHmac("sha256", KEY).update(s, "utf8").digest("base64"); }

function encodeName(n) {
  return n.split("/").map((s) => encodeURIComponent(s).replace(/[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())).join("/");
}

// One signed request; resolves to { status, body }.
function request(method, url, query, body, extra) {
  const u = new URL(url);
  const q = Object.keys(query).sort();
  const qs = q.map((k) => k + "=" + encodeURIComponent(query[k])).join("&");
  const headers = Object.assign({ "x-ms-date": new Date().toUTCString(), "x-ms-version": VERSION },
    extra || {});
  const len = body ? body.length : 0;
  if (method === "PUT") headers["content-length"] = String(len);
  const xms = Object.keys(headers).filter((h) => h.startsWith("x-ms-")).sort()
    .map((h) => h + ":" + headers[h] + "\n").join("");
  const sts = [method, "", "", len ? String(len) : "", "", headers["content-type"] || "", "", "", "", "",
    "", ""].join("\n") + "\n" + xms + "/" + ACCOUNT + u.pathname + q.map((k) => "\n" + k + ":" + query[k]).join("");
  headers.authorization = "SharedKey " + ACCOUNT + ":" + hmac(sts);
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, method, host: u.hostname, port: u.port,
      path: u.pathname + (qs ? "?" + qs : ""), headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

function put(ep, c, name, data) {
  return request("PUT", ep + "/" + c + "/" + encodeName(name), {}, data, { "x-ms-blob-type": "BlockBlob" });
}

async function main() {
  const [ep, cmd, ...a] = process.argv.slice(2);
  let r;
  if (cmd === "mkcontainer") {
    r = await request("PUT", ep + "/" + a[0], { restype: "container" });
    if (r.status === 409) r.status = 201;
  } else if (cmd === "put") {
    r = await put(ep, a[0], a[1], fs.readFileSync(a[2]));
  } else if (cmd === "delete") {
    r = await request("DELETE", ep + "/" + a[0] + "/" + encodeName(a[1]), {});
  } else if (cmd === "fill") {
    const [c, prefix, n, size, start] = [a[0], a[1], +a[2], +a[3], +(a[4] || 0)];
    let next = start;
    const pad = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n";
    async function worker() {
      while (next < start + n) {
        const i = next++;
        const name = prefix + String(i).padStart(5, "0") + ".txt";
        let text = "# Document " + i + "\n\n";
        while (text.length < size) text += pad;
        const res = await put(ep, c, name, Buffer.from(text.slice(0, size)));
        if (res.status !== 201) throw new Error("PUT " + name + ": " + res.status + " " + res.body);
      }
    }
    await Promise.all(Array.from({ length: 16 }, worker));
    r = { status: 201, body: "" };
  } else if (cmd === "sas") {
    const se = "2099-01-01T00:00:00Z", sv = "2019-12-12";
    const sig = hmac([ACCOUNT, a[0], "b", "sco", "", se, "", "", sv, ""].join("\n"));
    process.stdout.write("sv=" + sv + "&ss=b&srt=sco&sp=" + a[0] + "&se=" + encodeURIComponent(se) +
      "&sig=" + encodeURIComponent(sig) + "\n");
    return;
  } else {
    throw new Error("unknown command " + cmd);
  }
  process.stdout.write(r.status + "\n");
  if (r.status >= 300) process.stderr.write(r.body + "\n");
}

main().catch((e) => { process.stderr.write(String(e.stack || e) + "\n"); process.exit(1); });
