"""Counts the AWS API requests the deployed functions make, by service and action, on their way
to the emulator (scripts/emulator.sh starts it when EMULATOR_COUNT_REQUESTS=1).

    python3 scripts/count-proxy.py LISTEN_PORT UPSTREAM_URL

GET /_counts answers {"service:Action": n, ...}; POST /_counts/reset empties it. Every other
request is passed on unchanged and counted.
"""

import http.client
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS: dict[str, int] = {}
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
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/_counts" and self.command == "GET":
            with LOCK:
                return self._answer(200, json.dumps(COUNTS, sort_keys=True).encode())
        if self.path == "/_counts/reset" and self.command == "POST":
            with LOCK:
                COUNTS.clear()
            return self._answer(200, b"{}")
        key = classify(self.command, self.path, self.headers, body)
        with LOCK:
            COUNTS[key] = COUNTS.get(key, 0) + 1
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = f"{UPSTREAM.hostname}:{UPSTREAM.port}"
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _proxy


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
