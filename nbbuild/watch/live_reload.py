"""What makes an open page follow the build: the script every served page gets, the
bounded queue of each page's event stream, and the error text a failed rebuild
shows over the page.
"""

from __future__ import annotations

import collections
import threading

from nbbuild.model import NotebookResult

#: Seconds between keep-alive comments on an event stream (they also notice
#: clients that went away).
KEEPALIVE = 10.0


#: Messages queued per event stream; a client further behind is dropped.
EVENT_QUEUE = 64


#: Characters of an error shown in a page's overlay.
MAX_ERROR_CHARS = 20_000


LIVE_RELOAD = """<script>
(function () {
  var here = decodeURIComponent(location.pathname).replace(/^\\/+/, "") || "index.html";
  if (here.endsWith("/")) { here += "index.html"; }
  var home = /^index(\\.[^\\/]+)?\\.html$/.test(here);
  if (home) {  /* the preview's home page says which lectures are not built, and why */
    fetch("/_nbbuild/status").then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d || !d.failures || !d.failures.length) { return; }
        var box = document.createElement("div");
        box.id = "nbbuild-failures";
        box.setAttribute("role", "status");
        box.style.cssText = "position:fixed;left:0;right:0;bottom:0;z-index:2147483646;" +
          "max-height:40vh;overflow:auto;background:#fff4f4;color:#8b0000;padding:.6em 1em;" +
          "font:13px/1.4 ui-monospace,monospace;white-space:pre-wrap;border-top:3px solid #b00020";
        box.textContent = "nbbuild preview: " + d.failures.length + " not built\\n" +
          d.failures.map(function (f) { return f.source + " " + f.status + ": " + f.reason; })
            .join("\\n");
        document.body.appendChild(box);
      });
  }
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
    if (d.index && home) { location.reload(); return; }
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


class EventClient:
    """One event stream's bounded queue (filled by the build, read by its thread)."""

    def __init__(self) -> None:
        self._queue: collections.deque[bytes] = collections.deque()
        self._ready = threading.Condition()
        self.closed = False

    def put(self, message: bytes) -> bool:
        """Queue ``message``; False (and closed) when the client is too far behind."""
        with self._ready:
            if self.closed or len(self._queue) >= EVENT_QUEUE:
                self.closed = True
                self._ready.notify()
                return False
            self._queue.append(message)
            self._ready.notify()
            return True

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify()

    def get(self, timeout: float) -> bytes | None:
        """The next message, ``b""`` after ``timeout`` with none, None once closed."""
        with self._ready:
            if not self._queue and not self.closed:
                self._ready.wait(timeout)
            if self.closed:
                return None
            return self._queue.popleft() if self._queue else b""


def error_text(result: NotebookResult) -> str:
    if result.error is None:
        return ""
    text = str(result.error)
    traceback = getattr(result.error, "traceback", "")
    text = f"{text}\n\n{traceback}" if traceback else text
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + f"\n... ({len(text) - MAX_ERROR_CHARS} more characters)"
    return text


def with_live_reload(page: bytes) -> bytes:
    marker = page.rfind(b"</body>")
    script = LIVE_RELOAD.encode()
    return page[:marker] + script + page[marker:] if marker >= 0 else page + script
