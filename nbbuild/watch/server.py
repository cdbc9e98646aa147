"""The live preview of watch mode: the output folder over HTTP, pages that reload.

A small threaded HTTP server (the standard library's) serves the output folder on
127.0.0.1 by default. Every HTML page it serves gets a script that listens to
``/_nbbuild/events`` (server-sent events): when one of the page's outputs is
rebuilt the page reloads; when its notebook fails, the page shows the error (file,
cell, traceback) over its old content, until a good build reloads it. The index
(``/``) reloads after every build.

Only files inside the output folder are served: a path with ``..``, in any
encoding, a backslash or a NUL byte is refused, and so is any path whose real
location (symlinks followed) is outside the folder.

It is bounded, whatever its clients do: at most ``MAX_CONNECTIONS`` connections at
once (more are closed at once), idle and header time-outs, at most
``MAX_EVENT_CLIENTS`` event streams with a bounded queue each (a client that stops
reading is dropped), files streamed in chunks with ``Range`` support, and a
``Host`` header that must name the server when it listens on loopback (so a
DNS-rebinding page cannot read it).
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nbbuild.config import Settings
from nbbuild.model import NotebookResult
from nbbuild.render.layout import outputs_of
from nbbuild.watch.guards import (
    allowed_hosts,
    host_name,
    looks_hostile,
    safe_path,
)
from nbbuild.watch.live_reload import (
    KEEPALIVE,
    EventClient,
    error_text,
    with_live_reload,
)

EVENTS = "/_nbbuild/events"
STATUS = "/_nbbuild/status"
#: Connections served at once; more are closed as soon as they are accepted.
MAX_CONNECTIONS = 64
#: Event streams at once; more get 503.
MAX_EVENT_CLIENTS = 32
#: Seconds a connection may take to send its request, or leave a write unread.
IDLE_TIMEOUT = 10.0
#: Bytes read and sent at a time when serving a file.
CHUNK = 64 * 1024


class PreviewServer:
    """Serve ``out`` on ``host:port`` (port 0: any free port) until ``close()``."""

    def __init__(self, out: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.out = Path(out)
        self._clients: set[EventClient] = set()
        self._lock = threading.Lock()
        self.allowed_hosts = allowed_hosts(host)
        #: Status of every output path (relative, '/'-separated) of the last builds.
        self._status: dict[str, dict[str, str]] = {}
        preview = self

        class Handler(_Handler):
            server_preview = preview

        self._http = _BoundedServer((host, port), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="nbbuild-serve",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> PreviewServer:
        self._thread.start()
        return self

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
        self._http.shutdown()
        self._http.server_close()

    # -- what the build tells it ---------------------------------------------------------

    def notebook_done(self, result: NotebookResult, settings: Settings) -> None:
        """A notebook was built (or failed): its open pages reload (or show why)."""
        paths = [p.as_posix() for p in outputs_of(settings, result.source).values()]
        error = error_text(result)
        outputs = []
        for path in paths:
            entry = {"path": path, "status": result.status.value, "source": str(result.source),
                     "error": error}
            self._status[path] = entry
            outputs.append(entry)
        self.broadcast({"outputs": outputs})

    def index_written(self) -> None:
        self.broadcast({"index": True})

    def broadcast(self, data: dict[str, Any]) -> None:
        message = f"event: built\ndata: {json.dumps(data)}\n\n".encode()
        with self._lock:
            for client in list(self._clients):
                if not client.put(message):  # too far behind: dropped
                    self._clients.discard(client)

    def status(self, path: str) -> dict[str, str] | None:
        return self._status.get(path)

    def failures(self) -> list[dict[str, str]]:
        """Each lecture that is not built, once, with the first line of its reason:
        what the preview's home page shows (the published home page shows no status)."""
        found: dict[str, dict[str, str]] = {}
        for entry in self._status.values():
            if entry["status"] != "built" and entry["source"] not in found:
                reason = (entry.get("error") or "").strip().splitlines()
                found[entry["source"]] = {"source": entry["source"], "status": entry["status"],
                                          "reason": reason[0] if reason else ""}
        return [found[key] for key in sorted(found)]

    # -- used by the handler ----------------------------------------------------------------

    def subscribe(self) -> EventClient | None:
        """A new event stream's queue, or None when there are too many."""
        with self._lock:
            if len(self._clients) >= MAX_EVENT_CLIENTS:
                return None
            client = EventClient()
            self._clients.add(client)
        return client

    def unsubscribe(self, client: EventClient) -> None:
        with self._lock:
            self._clients.discard(client)

    def resolve(self, url_path: str) -> Path | None:
        """The file under ``out`` that ``url_path`` names, or None if it is not one."""
        return safe_path(self.out, url_path)


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, but at most ``MAX_CONNECTIONS`` of them."""

    #: Connections the OS queues before they are accepted (socketserver's 5 makes
    #: a burst of clients wait seconds for their SYN to be retried).
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the limit: closed at once
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    server_preview: PreviewServer
    protocol_version = "HTTP/1.1"
    #: Socket time-out: a request that does not arrive, an idle keep-alive
    #: connection, a write the client does not read.
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # the console belongs to the build's output

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        allowed = self.server_preview.allowed_hosts
        if allowed and host_name(self.headers.get("Host") or "") not in allowed:
            self.close_connection = True
            self._send(HTTPStatus.MISDIRECTED_REQUEST, b"421 unknown Host\n", "text/plain")
            return
        if url.path == EVENTS:
            self._events()
        elif url.path == STATUS:
            path = parse_qs(url.query).get("path", [None])[0]
            answer: Any = (self.server_preview.status(path) or {}) if path is not None \
                else {"failures": self.server_preview.failures()}
            self._send(HTTPStatus.OK, json.dumps(answer).encode(), "application/json")
        else:
            self._file(url.path)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _file(self, url_path: str) -> None:
        path = self.server_preview.resolve(url_path)
        if path is None:
            status = HTTPStatus.FORBIDDEN if looks_hostile(url_path) else HTTPStatus.NOT_FOUND
            self._send(status, f"{status.value} {status.phrase}\n".encode(), "text/plain")
            return
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            with open(path, "rb") as f:
                if kind == "text/html":  # pages get the reload script: read whole
                    data = with_live_reload(f.read())
                    self._send(HTTPStatus.OK, data, "text/html; charset=utf-8")
                else:
                    self._stream(f, os.fstat(f.fileno()).st_size, kind)
        except OSError:
            if not self.wfile.closed:
                self.close_connection = True

    def _stream(self, f: Any, size: int, kind: str) -> None:
        """Send a file in chunks, or the one byte range asked for."""
        start, end = 0, size - 1
        status = HTTPStatus.OK
        asked = self.headers.get("Range")
        if asked:
            match = _RANGE.match(asked.strip())
            if match and match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            elif match and match.group(2):  # the last N bytes
                start = max(0, size - int(match.group(2)))
            if not match or start > end or start >= size:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = HTTPStatus.PARTIAL_CONTENT
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if status is HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command == "HEAD":
            return
        f.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                break
            self.wfile.write(chunk)
            left -= len(chunk)

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _events(self) -> None:
        self.close_connection = True
        client = None if self.command == "HEAD" else self.server_preview.subscribe()
        if client is None and self.command != "HEAD":
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"503 too many event streams\n",
                       "text/plain")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if client is None:  # HEAD: the headers only
            return
        try:
            self.wfile.write(b": connected\n\n")
            self.wfile.flush()
            while True:
                message = client.get(timeout=KEEPALIVE)
                if message is None:
                    return
                if not message:
                    message = b": keep-alive\n\n"
                self.wfile.write(message)
                self.wfile.flush()
        except OSError:
            return
        finally:
            self.server_preview.unsubscribe(client)


