#!/usr/bin/env python3
"""An OpenAI-compatible model on 127.0.0.1 that streams a fixed Markdown reply of
TOKENS pieces (about 4 characters each) at RATE pieces a second; for chat-stream.sh.
Prints its port, then writes the times of the first and last piece to TIMES."""
import http.server
import json
import sys
import time

tokens, rate, times = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
BLOCK = open(sys.argv[4]).read() if len(sys.argv) > 4 else (
    "## What the folder holds\n\nYour **Downloads** folder has *twelve* files:\n\n"
    "- `ubuntu.iso`: 4.1 GB\n- `talk.mp4`: 820 MB\n\n```python\nimport os\n\n"
    "for name in sorted(os.listdir('.')):\n    print(name)\n```\n\nAnything else?\n\n")
text = BLOCK * (tokens * 4 // len(BLOCK) + 1)
pieces = [text[i:i + 4] for i in range(0, tokens * 4, 4)]


def event(delta, finish=None):
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class Model(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        start = time.monotonic()
        first = None
        for i, piece in enumerate(pieces):
            # Paced from the start, so a slow write does not slow the whole stream.
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            self.wfile.write(event({"content": piece}))
            self.wfile.flush()
            first = first or time.time()
        self.wfile.write(event({}, "stop") + b"data: [DONE]\n\n")
        self.wfile.flush()
        with open(times, "w") as f:
            f.write(f"{first} {time.time()}\n")

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Model)
print(server.server_address[1], flush=True)
server.serve_forever()
