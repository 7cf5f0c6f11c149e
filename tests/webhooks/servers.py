"""Real HTTP servers on loopback for the webhook tests: a receiver and a fake Bitrix24 portal."""

from __future__ import annotations

import json
import math
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


DEPRECATED = ("crm.contact.", "crm.deal.", "crm.lead.", "crm.company.")


class BitrixRefusal(Exception):
    def __init__(self, status: int, code: str, description: str = "") -> None:
        super().__init__(code)
        self.status, self.code, self.description = status, code, description


class FakeBitrix(_Server):
    """A Bitrix24 portal on loopback: the universal `crm.item.*` methods, duplicates by e-mail
    or phone, to-dos and timeline comments, behind the portal's limits.

    - The deprecated `crm.contact.*` / `crm.deal.*` are refused (counted in `deprecated`).
    - Leaky bucket: each HTTP request adds one, the bucket drains `drain_per_second`; above
      `capacity` the answer is 503 QUERY_LIMIT_EXCEEDED (counted in `limit_errors`).
    - Time budget: `budgets[method] = (calls, window_seconds)`: once a method has run `calls`
      times in its window it answers 429 OPERATION_TIME_LIMIT until the window ends
      (`operating_reset_at`, reported in every answer's `time`); a call that still arrives
      then is counted in `calls_while_blocked`.
    """

    def __init__(self, drain_per_second: float = 2.0, capacity: float = 50.0) -> None:
        super().__init__()
        self.drain, self.capacity = drain_per_second, capacity
        self.level, self.last = 0.0, time.monotonic()
        self.limit_errors = 0
        self.forced_errors: list[tuple[int, str]] = []
        self.requests = 0
        self.request_times: list[float] = []
        self.calls: list[str] = []
        self.deprecated: list[str] = []
        self.budgets: dict[str, tuple[int, float]] = {}
        self.windows: dict[str, tuple[float, int]] = {}  # method -> (window start, calls)
        self.time_limit_answers: dict[str, int] = {}
        self.blocked: set[str] = set()
        self.calls_while_blocked: dict[str, int] = {}
        self.contacts: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        self.todos: list[dict[str, Any]] = []
        self.deals: list[dict[str, Any]] = []
        # A slow portal: while `gate` is clear every request waits for it (`waiting` counts).
        self.gate: threading.Event | None = None
        self.waiting = 0

    # -- limits --------------------------------------------------------------------------
    def _budget(self, method: str) -> float:
        """Count one call of `method` against its time budget; its reset time (epoch)."""
        now = time.time()
        calls, window = self.budgets.get(method, (10**9, 600.0))
        start, made = self.windows.get(method, (now, 0))
        if now >= start + window:
            start, made = now, 0
            self.blocked.discard(method)
        reset_at = float(math.ceil(start + window))
        if made >= calls:
            if method in self.blocked:  # told to wait, called again all the same
                self.calls_while_blocked[method] = self.calls_while_blocked.get(method, 0) + 1
            self.blocked.add(method)
            self.time_limit_answers[method] = self.time_limit_answers.get(method, 0) + 1
            raise BitrixRefusal(429, "OPERATION_TIME_LIMIT", f"{method} over its time budget")
        self.windows[method] = (start, made + 1)
        return reset_at

    def _time(self, reset_at: float | None = None) -> dict[str, Any]:
        now = time.time()
        return {
            "start": now,
            "finish": now,
            "duration": 0.001,
            "operating": 0.001,
            "operating_reset_at": int(reset_at or now + 600),
        }

    # -- methods -------------------------------------------------------------------------
    def _contact(self, contact_id: Any) -> dict[str, Any]:
        for c in self.contacts:
            if str(c["id"]) == str(contact_id):
                return c
        raise BitrixRefusal(400, "NOT_FOUND", "Not found")

    def _method(self, method: str, params: dict[str, Any]) -> Any:
        self.calls.append(method)
        if method.startswith(DEPRECATED):
            self.deprecated.append(method)
            raise BitrixRefusal(400, "ERROR_METHOD_DEPRECATED", f"{method} is deprecated")
        if method == "crm.item.list":
            assert str(params["entityTypeId"]) == "3", params
            f = params.get("filter", {})
            items = [
                {"id": c["id"]}
                for c in self.contacts
                if c.get("originatorId") == f.get("=originatorId")
                and c.get("originId") == f.get("=originId")
            ]
            return {"items": items}
        if method == "crm.duplicate.findbycomm":
            kind, values = params["type"], set(params["values"])
            ids = [
                c["id"]
                for c in self.contacts
                if any(m["typeId"] == kind and m["value"] in values for m in c.get("fm", []))
            ]
            return {"CONTACT": ids} if ids else []
        if method == "crm.item.add":
            fields = dict(params["fields"])
            if str(params["entityTypeId"]) == "3":
                contact = fields | {"id": len(self.contacts) + 1}
                contact["fm"] = list(fields.get("fm", []))
                self.contacts.append(contact)
                return {"item": contact}
            assert str(params["entityTypeId"]) == "2", params
            for cid in fields.get("contactIds", []):
                self._contact(cid)
            deal = fields | {"id": len(self.deals) + 1}
            self.deals.append(deal)
            return {"item": deal}
        if method == "crm.item.get":
            return {"item": self._contact(params["id"])}
        if method == "crm.item.update":
            contact = self._contact(params["id"])
            fields = dict(params["fields"])
            contact["fm"] = contact.get("fm", []) + list(fields.pop("fm", []))  # adds only
            contact.update(fields)
            return {"item": contact}
        if method == "crm.timeline.comment.add":
            if "fields" not in params:  # CRM 23.100: the key must be lower-case
                raise BitrixRefusal(400, "ERROR_ARGUMENT", "fields is required")
            self._contact(params["fields"]["ENTITY_ID"])
            self.comments.append(params["fields"])
            return len(self.comments)
        if method == "crm.activity.todo.add":
            self._contact(params["ownerId"])
            self.todos.append(params)
            return {"id": len(self.todos)}
        raise BitrixRefusal(404, "ERROR_METHOD_NOT_FOUND", method)

    def _one(self, method: str, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        reset_at = self._budget(method)
        return self._method(method, params), self._time(reset_at)

    def handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.gate is not None:
            with self.lock:
                self.waiting += 1
            self.gate.wait(timeout=60)
        with self.lock:
            self.requests += 1
            now = time.monotonic()
            self.request_times.append(now)
            self.level = max(self.level - (now - self.last) * self.drain, 0.0) + 1
            self.last = now
            if self.forced_errors:
                status, code = self.forced_errors.pop(0)
                return status, {}, _json({"error": code, "error_description": "forced"})
            if self.level > self.capacity:
                self.limit_errors += 1
                return (
                    503,
                    {},
                    _json(
                        {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
                    ),
                )
            method = path.rsplit("/", 1)[-1].removesuffix(".json")
            params = json.loads(body or b"{}")
            if method == "batch":
                results, errors, times = {}, {}, {}
                for name, command in params["cmd"].items():
                    m, _, query = command.partition("?")
                    try:
                        results[name], times[name] = self._one(m, _unphp(query))
                    except BitrixRefusal as exc:
                        errors[name] = {"error": exc.code, "error_description": exc.description}
                payload = {
                    "result": {"result": results, "result_error": errors, "result_time": times},
                    "time": self._time(),
                }
                return 200, {"content-type": "application/json"}, _json(payload)
            try:
                result, timing = self._one(method, params)
            except BitrixRefusal as exc:
                reset = self.windows.get(method)
                extra = (
                    {"time": self._time(math.ceil(reset[0] + self.budgets[method][1]))}
                    if reset and method in self.budgets
                    else {}
                )
                return (
                    exc.status,
                    {},
                    _json({"error": exc.code, "error_description": exc.description} | extra),
                )
            return (
                200,
                {"content-type": "application/json"},
                _json({"result": result, "time": timing}),
            )


def _json(payload: Any) -> bytes:
    return json.dumps(payload).encode()


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
