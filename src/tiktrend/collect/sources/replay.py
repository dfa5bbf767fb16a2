"""A local stand-in for TikTok: an HTTP server on 127.0.0.1 that answers with scripted replies.

The tests run every live source against it (real HTTP, real sockets, nothing of the project mocked), and it
serves saved replies for offline demos. The script is a function from the request to the reply, so it can
replay pages, rate-limit, fail in bursts, rotate tokens or cut a reply short.

    with ReplayServer(lambda request: Canned(200, page_bytes)) as server:
        source = WebTrending(HttpTransport(), WebConfig(base_url=server.url))
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Canned:
    """One scripted reply."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    drop: bool = False  # close the connection without answering


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    target: str = ""  # the request line's path and query as sent (signatures cover the exact bytes)


Script = Callable[[Recorded], Canned]


class ReplayServer:
    """Serves ``script(request)`` on 127.0.0.1 (a free port) until the ``with`` block ends; HTTPS with ``tls``."""

    def __init__(self, script: Script, *, max_requests: int = 10_000, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.max_requests = max_requests  # a client that loops forever gets 503s, and the test fails
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._tls = tls
        self._server = (_TLSServer if tls else ThreadingHTTPServer)(("127.0.0.1", 0), self._handler())
        if tls is not None:
            # The handshake happens in the connection's own thread, so a slow client cannot hold up the others.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="replay-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def _answer(self, request: Recorded) -> Canned:
        with self._lock:
            self.requests.append(request)
            over = len(self.requests) > self.max_requests
        return Canned(503, b"too many requests for this test") if over else self.script(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Recorded(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query, keep_blank_values=True)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    self.path,
                )
                canned = server._answer(request)
                if canned.drop:
                    self.close_connection = True
                    return
                self.send_response(canned.status)
                self.send_header("content-type", canned.content_type)
                self.send_header("content-length", str(len(canned.body)))
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(canned.body)

            def log_message(self, format: str, *args: object) -> None:
                return  # quiet: the test reads server.requests

        return Handler


class _TLSServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections finish their TLS handshake in their own thread."""

    def finish_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return  # a client that gave up or refused the certificate: nothing to answer
        super().finish_request(request, client_address)
