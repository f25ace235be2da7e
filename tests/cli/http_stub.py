# http_stub.py PORTFILE: a tiny OpenAI-like server whose first path
# segment picks how it misbehaves (tests/cli/http.sh):
#   /ok      200, a valid answer (streamed or not) with usage
#   /nousage 200, a valid answer without usage
#   /500     500 with an error object
#   /429     429 with an error object
#   /slow    sleeps 3 s, then answers
#   /badsse  200 text/event-stream with an event that is not JSON
#   /cut     200 text/event-stream that ends without [DONE]
# GET /ok/health answers 200.  It writes its port to PORTFILE.
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json"):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        try:
            self.wfile.write(b)
        except OSError:
            pass  # the client gave up (a timeout): expected

    def do_GET(self):
        self.send(200, "{}")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        mode = self.path.split("/")[1]
        stream = req.get("stream", False)
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        if mode == "500":
            return self.send(500, json.dumps({"error": {"message": "boom"}}))
        if mode == "429":
            return self.send(429, json.dumps({"error": {"message": "slow down"}}))
        if mode == "slow":
            time.sleep(3)
        if mode in ("badsse", "cut"):
            ev = "data: {not json\n\n" if mode == "badsse" else \
                'data: {"choices":[{"index":0,"text":"a"}]}\n\n'
            return self.send(200, ev, "text/event-stream")
        if not stream:
            o = {"choices": [{"index": 0, "text": "one two three", "finish_reason": "stop"}]}
            if mode != "nousage":
                o["usage"] = usage
            return self.send(200, json.dumps(o))
        parts = []
        for w in ("one", " two", " three"):
            parts.append("data: " + json.dumps({"choices": [{"index": 0, "text": w}]}) + "\n\n")
        parts.append("data: " + json.dumps(
            {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}) + "\n\n")
        if mode != "nousage":
            parts.append("data: " + json.dumps({"choices": [], "usage": usage}) + "\n\n")
        parts.append("data: [DONE]\n\n")
        self.send(200, "".join(parts), "text/event-stream")


s = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
