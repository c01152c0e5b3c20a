#!/usr/bin/python3
"""A SigV4-checking proxy for coco's AmazonS3 specs.

s3rver and fauxqs do not verify SigV4 signatures, so every request that
passes through here is checked against an independent signer, botocore
(Debian's python3-botocore), before it is forwarded:

  - the canonical request is rebuilt by botocore from what arrived: the
    query string decoded and handed over as parameters (botocore encodes and
    sorts them itself), the path decoded and re-encoded the AWS way, the
    headers named in SignedHeaders, x-amz-content-sha256 or the body hash;
  - the signature is computed with the secret given on the command line for
    the access key id in the Credential scope, at the request's X-Amz-Date;
  - a mismatch is answered 403 SignatureDoesNotMatch, as AWS would; a match
    is forwarded to the upstream server (s3 or sqs, by X-Amz-Target).

Each request is logged to LOG as "MATCH|MISMATCH|UNSIGNED SERVICE METHOD
TARGET". With --drop-lists-after N, ListObjectsV2 requests after the N-th are
answered by closing the connection (an endpoint going down mid-listing).

  python3 sigv4_proxy.py --s3 PORT --sqs PORT --log FILE --cred AKID:SECRET
      [--drop-lists-after N]

Prints {"port": PORT} once listening on 127.0.0.1; exits when stdin closes.
"""
import argparse
import http.client
import http.server
import json
import re
import sys
import threading
from urllib.parse import quote, unquote, parse_qsl, urlsplit

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")


def oracle_signature(method, target, headers, body, secrets):
    """(verdict, detail): MATCH, MISMATCH or UNSIGNED."""
    auth = headers.get("Authorization")
    if not auth:
        return "UNSIGNED", ""
    m = AUTH_RE.match(auth)
    if not m:
        return "MISMATCH", "unparsable Authorization: " + auth
    akid, _date, region, service, signed, given = m.groups()
    secret = secrets.get(akid)
    if secret is None:
        return "MISMATCH", "unknown access key id " + akid
    parts = urlsplit(target)
    if service == "s3":
        path = quote(unquote(parts.path), safe="/~")
    else:
        path = parts.path
    names = signed.split(";")
    hdrs = {}
    for n in names:
        v = headers.get(n)
        if v is None:
            return "MISMATCH", "signed header %s was not sent" % n
        hdrs[n] = " ".join(v.split())
    req = AWSRequest(method=method, url="http://" + headers.get("Host") + path, headers=hdrs,
                     data=body or b"")
    req.params = parse_qsl(parts.query, keep_blank_values=True)
    req.context["timestamp"] = headers.get("X-Amz-Date", "")
    creds = Credentials(akid, secret, headers.get("x-amz-security-token"))
    signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(creds, service, region)
    canonical = signer.canonical_request(req)
    sts = signer.string_to_sign(req, canonical)
    want = signer.signature(sts, req)
    if want != given:
        return "MISMATCH", "canonical request by botocore:\n" + canonical
    return "MATCH", ""


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        srv = self.server
        service = "sqs" if self.headers.get("X-Amz-Target") else "s3"
        is_list = service == "s3" and self.command == "GET" and "list-type=2" in self.path
        verdict, detail = oracle_signature(self.command, self.path, self.headers, body, srv.secrets)
        with srv.lock:
            srv.log.write("%s %s %s %s\n" % (verdict, service, self.command, self.path))
            if detail:
                srv.log.write("  " + detail.replace("\n", "\n  ") + "\n")
            srv.log.flush()
            if is_list:
                srv.lists += 1
                drop = srv.drop_after is not None and srv.lists > srv.drop_after
            else:
                drop = False
        if drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if verdict == "MISMATCH":
            if service == "s3":
                out = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch"
                       b"</Code><Message>The request signature we calculated does not match the "
                       b"signature you provided.</Message></Error>")
                ctype = "application/xml"
            else:
                out = b'{"__type":"com.amazonaws.sqs#SignatureDoesNotMatch","message":"signature mismatch"}'
                ctype = "application/x-amz-json-1.0"
            self.send_response(403)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        port = srv.sqs if service == "sqs" else srv.s3
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
        conn.request(self.command, self.path, body=body if n else None, headers=fwd)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "content-length", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--s3", type=int, required=True)
    ap.add_argument("--sqs", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cred", action="append", default=[])
    ap.add_argument("--drop-lists-after", type=int, default=None)
    a = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    srv.daemon_threads = True
    srv.s3, srv.sqs = a.s3, a.sqs
    srv.secrets = dict(c.split(":", 1) for c in a.cred)
    srv.log = open(a.log, "a")
    srv.lock = threading.Lock()
    srv.lists = 0
    srv.drop_after = a.drop_lists_after
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stdout.write(json.dumps({"port": srv.server_address[1]}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()          # until the spec that started us is gone
    srv.shutdown()


if __name__ == "__main__":
    main()
