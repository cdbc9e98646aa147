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
"""

from __future__ import annotations

import json
import mimetypes
import os
import queue
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .config import Settings
from .layout import outputs_of
from .model import NotebookResult

EVENTS = "/_nbbuild/events"
STATUS = "/_nbbuild/status"
#: Seconds between keep-alive comments on an event stream (they also notice
#: clients that went away).
KEEPALIVE = 10.0

LIVE_RELOAD = """<script>
(function () {
  var here = decodeURIComponent(location.pathname).replace(/^\\/+/, "") || "index.html";
  if (here.endsWith("/")) { here += "index.html"; }
  function show(o) {
    var box = document.getElementById("nbbuild-error");
    if (!box) {
      box = document.createElement("div");
      box.id = "nbbuild-error";
      box.setAttribute("role", "alert");
      box.style.cssText = "position:fixed;inset:0;z-index:2147483647;overflow:auto;" +
        "background:rgba(255,255,255,.97);color:#8b0000;padding:2em;" +
        "font:14px/1.4 ui-monospace,monospace;white-space:pre-wrap;border:6px solid #b00020";
      document.body.appendChild(box);
    }
    box.textContent = "nbbuild: " + o.source + " " + o.status + "\\n\\n" + o.error;
  }
  var events = new EventSource("/_nbbuild/events");
  events.addEventListener("built", function (e) {
    var d = JSON.parse(e.data);
    if (d.index && here === "index.html") { location.reload(); return; }
    for (var i = 0; i < (d.outputs || []).length; i++) {
      var o = d.outputs[i];
      if (o.path !== here) { continue; }
      if (o.status === "built") { location.reload(); } else { show(o); }
      return;
    }
  });
  fetch("/_nbbuild/status?path=" + encodeURIComponent(here)).then(function (r) {
    return r.ok ? r.json() : null;
  }).then(function (o) { if (o && o.status && o.status !== "built") { show(o); } });
})();
</script>
"""


class PreviewServer:
    """Serve ``out`` on ``host:port`` (port 0: any free port) until ``close()``."""

    def __init__(self, out: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.out = Path(out)
        self._clients: set[queue.Queue[bytes | None]] = set()
        self._lock = threading.Lock()
        #: Status of every output path (relative, '/'-separated) of the last builds.
        self._status: dict[str, dict[str, str]] = {}
        preview = self

        class Handler(_Handler):
            server_preview = preview

        self._http = ThreadingHTTPServer((host, port), Handler)
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
                client.put(None)
        self._http.shutdown()
        self._http.server_close()

    # -- what the build tells it ---------------------------------------------------------

    def notebook_done(self, result: NotebookResult, settings: Settings) -> None:
        """A notebook was built (or failed): its open pages reload (or show why)."""
        paths = [p.as_posix() for p in outputs_of(settings, result.source).values()]
        error = _error_text(result)
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
            for client in self._clients:
                client.put(message)

    def status(self, path: str) -> dict[str, str] | None:
        return self._status.get(path)

    # -- used by the handler ----------------------------------------------------------------

    def subscribe(self) -> queue.Queue[bytes | None]:
        client: queue.Queue[bytes | None] = queue.Queue()
        with self._lock:
            self._clients.add(client)
        return client

    def unsubscribe(self, client: queue.Queue[bytes | None]) -> None:
        with self._lock:
            self._clients.discard(client)

    def resolve(self, url_path: str) -> Path | None:
        """The file under ``out`` that ``url_path`` names, or None if it is not one."""
        return safe_path(self.out, url_path)


def safe_path(root: Path, url_path: str) -> Path | None:
    """The file under ``root`` that the URL path names; None for anything else:
    ``..`` (however encoded), backslashes, NUL bytes, absolute or drive paths, and
    paths whose real location (symlinks followed) leaves ``root``."""
    text = unquote(url_path)
    if "%" in text or "\0" in text or "\\" in text:  # encoded twice, NUL, backslash
        return None
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." or ":" in p for p in parts):
        return None
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, *parts))
    if target != real_root and not target.startswith(real_root + os.sep):
        return None
    if os.path.isdir(target):
        target = os.path.join(target, "index.html")
    return Path(target) if os.path.isfile(target) else None


def _error_text(result: NotebookResult) -> str:
    if result.error is None:
        return ""
    text = str(result.error)
    traceback = getattr(result.error, "traceback", "")
    return f"{text}\n\n{traceback}" if traceback else text


class _Handler(BaseHTTPRequestHandler):
    server_preview: PreviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # the console belongs to the build's output

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        if url.path == EVENTS:
            self._events()
        elif url.path == STATUS:
            path = parse_qs(url.query).get("path", [""])[0]
            self._send(HTTPStatus.OK, json.dumps(self.server_preview.status(path) or {}).encode(),
                       "application/json")
        else:
            self._file(url.path)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _file(self, url_path: str) -> None:
        path = self.server_preview.resolve(url_path)
        if path is None:
            status = HTTPStatus.FORBIDDEN if _looks_hostile(url_path) else HTTPStatus.NOT_FOUND
            self._send(status, f"{status.value} {status.phrase}\n".encode(), "text/plain")
            return
        try:
            data = path.read_bytes()
        except OSError:
            self._send(HTTPStatus.NOT_FOUND, b"404 Not Found\n", "text/plain")
            return
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind == "text/html":
            data = _with_live_reload(data)
            kind = "text/html; charset=utf-8"
        self._send(HTTPStatus.OK, data, kind)

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _events(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        client = self.server_preview.subscribe()
        try:
            self.wfile.write(b": connected\n\n")
            self.wfile.flush()
            while True:
                try:
                    message = client.get(timeout=KEEPALIVE)
                except queue.Empty:
                    message = b": keep-alive\n\n"
                if message is None:
                    return
                self.wfile.write(message)
                self.wfile.flush()
        except OSError:
            return
        finally:
            self.server_preview.unsubscribe(client)


def _looks_hostile(url_path: str) -> bool:
    text = unquote(unquote(url_path))
    return ".." in text or "\\" in text or "\0" in text


def _with_live_reload(page: bytes) -> bytes:
    marker = page.rfind(b"</body>")
    script = LIVE_RELOAD.encode()
    return page[:marker] + script + page[marker:] if marker >= 0 else page + script
