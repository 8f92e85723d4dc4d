"""Counts the AWS API requests the deployed functions make, by service and action, on their way
to the emulator (scripts/emulator.sh starts it when EMULATOR_COUNT_REQUESTS=1).

    python3 scripts/count-proxy.py LISTEN_PORT UPSTREAM_URL

GET /_counts answers {"service:Action": n, ...}; GET /_counts?prefix=P counts only requests
whose table, queue, bucket or parameter name starts with P (a stack's resources carry its
name); POST /_counts/reset empties it. Every other request is passed on unchanged and counted.
"""

import http.client
import json
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS: dict[tuple[str, str], int] = {}
NAMED = [re.compile(rb'"TableName"\s*:\s*"([^"]+)"'), re.compile(rb'"QueueUrl"\s*:\s*"[^"]*/([^"/]+)"'),
         re.compile(rb'"Name"\s*:\s*"/?([^"]+)"')]


def resource(path: str, headers, body: bytes) -> str:
    """The table, queue, parameter or bucket a request names ("" if none)."""
    for pattern in NAMED:
        found = pattern.search(body)
        if found:
            return found.group(1).decode(errors="replace")
    if "/s3/" in headers.get("authorization", ""):
        return urllib.parse.urlsplit(path).path.lstrip("/").split("/", 1)[0]
    return ""


def read_body(rfile, headers) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(rfile.read(size))
            rfile.readline()
    length = int(headers.get("content-length") or 0)
    return rfile.read(length) if length else b""
LOCK = threading.Lock()
UPSTREAM = urllib.parse.urlsplit(sys.argv[2])


def classify(method: str, path: str, headers, body: bytes) -> str:
    target = headers.get("x-amz-target", "")
    if target:
        # DynamoDB_20120810.PutItem, AmazonSQS.SendMessageBatch, AmazonSSM.GetParameter
        prefix, _, action = target.partition(".")
        service = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "AmazonSSM": "ssm"}.get(
            prefix, prefix.lower())
        return f"{service}:{action}"
    if body.startswith(b"Action="):
        action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action", ["?"])[0]
        return f"query:{action}"
    auth = headers.get("authorization", "")
    if "/s3/" in auth:
        return f"s3:{method}"
    return f"other:{method}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _proxy(self) -> None:
        body = read_body(self.rfile, self.headers)
        split = urllib.parse.urlsplit(self.path)
        if split.path == "/_counts" and self.command == "GET":
            prefix = urllib.parse.parse_qs(split.query).get("prefix", [None])[0]
            totals: dict[str, int] = {}
            with LOCK:
                for (name, action), n in COUNTS.items():
                    if prefix is None or name.lower().startswith(prefix.lower()):
                        totals[action] = totals.get(action, 0) + n
            return self._answer(200, json.dumps(totals, sort_keys=True).encode())
        if self.path == "/_counts/reset" and self.command == "POST":
            with LOCK:
                COUNTS.clear()
            return self._answer(200, b"{}")
        key = (resource(self.path, self.headers, body), classify(self.command, self.path, self.headers, body))
        with LOCK:
            COUNTS[key] = COUNTS.get(key, 0) + 1
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=120)
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        # The Host header is passed on as signed: presigned URLs and SigV4 cover it.
        upstream.putheader("Host", self.headers.get("host") or f"{UPSTREAM.hostname}:{UPSTREAM.port}")
        for name, value in self.headers.items():
            if name.lower() not in ("host", "content-length", "transfer-encoding", "connection"):
                upstream.putheader(name, value)
        upstream.putheader("Content-Length", str(len(body)))
        upstream.endheaders(body)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        # A HEAD answer keeps the length of the body it describes.
        length = answer.getheader("content-length") if self.command == "HEAD" else None
        self.send_header("content-length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _proxy


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
