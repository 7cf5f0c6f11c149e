"""Real HTTP servers on loopback for the webhook tests: a receiver and a fake Bitrix24 portal."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.httpd: ThreadingHTTPServer | None = None
        self.lock = threading.Lock()

    def handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status, headers, payload = outer.handle(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


class Receiver(_Server):
    """Records every request; answers with `respond(n)` (n: 1-based request number)."""

    def __init__(
        self,
        respond: Callable[[int], tuple[int, dict[str, str]]] | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(port)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.respond = respond or (lambda n: (200, {}))

    def handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append((headers, body))
            n = len(self.requests)
        status, extra = self.respond(n)
        return status, extra, b"ok"


class FakeBitrix(_Server):
    """The REST methods the connector uses, behind a leaky bucket like a portal's.

    Each request fills the bucket by one; it drains `drain_per_second`; above `capacity` the
    portal answers 503 QUERY_LIMIT_EXCEEDED (counted in `limit_errors`).
    """

    def __init__(self, drain_per_second: float = 2.0, capacity: float = 3.0) -> None:
        super().__init__()
        self.drain, self.capacity = drain_per_second, capacity
        self.level, self.last = 0.0, time.monotonic()
        self.limit_errors = 0
        self.forced_errors: list[tuple[int, str]] = []
        self.requests = 0
        self.contacts: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        self.todos: list[dict[str, Any]] = []
        self.deals: list[dict[str, Any]] = []

    def _method(self, method: str, params: dict[str, Any]) -> Any:
        if method == "crm.contact.list":
            f = params.get("filter", {})
            out = []
            for c in self.contacts:
                if "ORIGIN_ID" in f and (
                    c.get("ORIGIN_ID") != f["ORIGIN_ID"]
                    or c.get("ORIGINATOR_ID") != f.get("ORIGINATOR_ID")
                ):
                    continue
                if "EMAIL" in f and f["EMAIL"] not in [e["VALUE"] for e in c.get("EMAIL", [])]:
                    continue
                if "PHONE" in f and f["PHONE"] not in [p["VALUE"] for p in c.get("PHONE", [])]:
                    continue
                out.append({"ID": str(c["ID"])})
            return out
        if method == "crm.contact.add":
            contact = dict(params["fields"]) | {"ID": len(self.contacts) + 1}
            self.contacts.append(contact)
            return contact["ID"]
        if method == "crm.timeline.comment.add":
            self.comments.append(params["fields"])
            return len(self.comments)
        if method == "crm.activity.todo.add":
            self.todos.append(params)
            return {"id": len(self.todos)}
        if method == "crm.deal.add":
            self.deals.append(params["fields"])
            return len(self.deals)
        raise KeyError(method)

    def handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests += 1
            now = time.monotonic()
            self.level = max(self.level - (now - self.last) * self.drain, 0.0) + 1
            self.last = now
            if self.forced_errors:
                status, code = self.forced_errors.pop(0)
                return (
                    status,
                    {},
                    json.dumps({"error": code, "error_description": "forced"}).encode(),
                )
            if self.level > self.capacity:
                self.limit_errors += 1
                return (
                    503,
                    {},
                    json.dumps(
                        {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
                    ).encode(),
                )
            method = path.rsplit("/", 1)[-1].removesuffix(".json")
            params = json.loads(body or b"{}")
            if method == "batch":
                results, errors = {}, {}
                for name, command in params["cmd"].items():
                    m, _, query = command.partition("?")
                    try:
                        results[name] = self._method(m, _unphp(query))
                    except KeyError:
                        errors[name] = {"error": "ERROR_METHOD_NOT_FOUND", "error_description": m}
                payload: Any = {"result": {"result": results, "result_error": errors}}
            else:
                try:
                    payload = {"result": self._method(method, params)}
                except KeyError:
                    return 404, {}, json.dumps({"error": "ERROR_METHOD_NOT_FOUND"}).encode()
            return 200, {"content-type": "application/json"}, json.dumps(payload).encode()


def _unphp(query: str) -> dict[str, Any]:
    """filter[EMAIL]=x&fields[EMAIL][0][VALUE]=y → nested dicts (lists as dicts of indexes)."""
    out: dict[str, Any] = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = values[0]
    return _lists(out)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node
