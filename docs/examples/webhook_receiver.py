"""A webhook receiver for authd, verified with the Standard Webhooks library.

    pip install standardwebhooks
    AUTHD_WEBHOOK_SECRET=whsec_... python3 webhook_receiver.py
"""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

hook = Webhook(os.environ["AUTHD_WEBHOOK_SECRET"])  # the same whsec_... as authd's
seen = set()  # a real app keeps this in its database


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            event = hook.verify(body, dict(self.headers))  # signature and timestamp
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        if self.headers["webhook-id"] not in seen:  # at least once: a retry repeats the id
            seen.add(self.headers["webhook-id"])
            print(event["type"], event["data"]["user_id"], flush=True)
        self.send_response(204)
        self.end_headers()


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9000"))), Receiver).serve_forever()
