"""A loopback OpenAI-compatible chat server that follows the documented response contract.

It answers `POST /v1/chat/completions` by quoting the first numbered passage of the
system prompt with a citation, records every request, and can be told to fail.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.mode = "answer"  # answer | no_answer | no_citation | error | scripted
        self.scripted = ""  # the reply in "scripted" mode
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.requests.append(body)
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                elif outer.mode == "error":
                    self._send(500, {"error": {"message": "model crashed", "type": "server_error"}})
                else:
                    self._send(200, outer._completion(body))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        system = body["messages"][0]["content"]
        first = re.search(r"\[1\] [^\n]*\n([^\n]+)", system)
        if self.mode == "scripted":
            content = self.scripted
        elif self.mode == "no_answer":
            content = "NO_ANSWER"
        elif self.mode == "no_citation":
            content = "Peonies are lovely."
        else:
            content = f"{first.group(1) if first else ''} [1]"
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
