"""Test receiver for the py-notify connector, bound to 127.0.0.1 only.

Usage: python3 receiver.py PORT_FILE LOG_FILE

Listens on a free loopback port and writes the port number to PORT_FILE.
Every POST with a content-length is appended to LOG_FILE as one JSON line
with the method, path, content type, `x-sluice-event` header and parsed
body. Its response is 200 with `{"receipt": "r-<n>"}`, where n counts
requests from 1. A POST without content-length gets 411.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class NoticeHandler(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:
        length = self.headers.get("content-length")
        if length is None:
            self.send_error(411, "content-length is required")
            return
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = raw.decode("utf-8", errors="replace")

        NoticeHandler.received += 1
        record = {
            "method": self.command,
            "path": self.path,
            "contentType": self.headers.get("content-type"),
            "event": self.headers.get("x-sluice-event"),
            "body": body,
        }
        with open(self.server.log_file, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")

        reply = json.dumps({"receipt": f"r-{NoticeHandler.received}"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args) -> None:
        sys.stderr.write("receiver: " + format % args + "\n")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: receiver.py PORT_FILE LOG_FILE")
    port_file, log_file = sys.argv[1], sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), NoticeHandler)
    server.log_file = log_file
    with open(port_file, "w", encoding="utf-8") as out:
        out.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
