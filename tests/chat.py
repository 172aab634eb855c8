"""An OpenAI-compatible chat-completions endpoint on 127.0.0.1, for the tests of what asks one
(the LLM summarizer, the story judge): a real HTTP server that records each request and answers
`content`, or fails with `status`, after `delay` seconds."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatServer:
    def __init__(self) -> None:
        self.content = "yes"
        self.status = 200
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        chat = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                chat.requests.append(json.loads(
                    self.rfile.read(int(self.headers["Content-Length"]))))
                time.sleep(chat.delay)
                data = json.dumps({"choices": [{"message": {
                    "role": "assistant", "content": chat.content}}]}).encode()
                try:
                    self.send_response(chat.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass  # the client gave up waiting (the timeout tests)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/chat/completions"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

