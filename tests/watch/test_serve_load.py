"""The preview server stays bounded under hostile clients, with a real
`nbbuild watch --serve` process, real sockets on 127.0.0.1 and real rebuilds.
Every loop here is bounded in count and time."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from ..conftest import default_sigint

pytestmark = pytest.mark.integration

IDLE = 1000
STUCK = 20
REBUILDS = 12


class _Watch:
    """`nbbuild watch COURSE --serve --port 0`, its output collected line by line."""

    def __init__(self, course: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nbbuild", "watch", str(course), "-j", "1", "--serve",
             "--port", "0", "--debounce", "0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=default_sigint)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(bool(re.search(pattern, line)) for line in self.lines) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} x{count} not seen:\n" + "\n".join(self.lines[-30:]))

    def url(self) -> str:
        self.wait_for(r"^serving .* at http://")
        line = next(line for line in self.lines if line.startswith("serving "))
        return line.rsplit(" at ", 1)[1]


def _page(url: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as page:
                return page.status == 200 and b"good" in page.read()
        except OSError:
            time.sleep(0.2)
    return False


def _figures(pid: int) -> tuple[int, float]:
    proc = psutil.Process(pid)
    return proc.num_fds(), proc.memory_info().rss / 2**20


def test_idle_connections_and_stuck_event_clients_cannot_starve_the_build(tmp_path, private_tmp):
    course = tmp_path / "c"
    course.mkdir()
    (course / "good.py").write_text("# %%\nprint('good')\n")
    (course / "edited.py").write_text("# %%\nprint('v0')\n")
    watch = _Watch(course)
    sockets: list[socket.socket] = []
    try:
        url = watch.url()
        watch.wait_for(r"notebooks?: .* in [\d.]+ s")
        host, port = url.split("//")[1].rstrip("/").split(":")
        fds_before, rss_before = _figures(watch.proc.pid)
        began = time.monotonic()
        for _ in range(STUCK):  # ask for events, never read them
            s = socket.create_connection((host, int(port)), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"GET /_nbbuild/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            sockets.append(s)
        for _ in range(IDLE):  # connect, say nothing
            try:
                sockets.append(socket.create_connection((host, int(port)), timeout=5))
            except OSError:
                pass
        print(f"\nconnected after {time.monotonic() - began:.1f} s")
        for n in range(1, REBUILDS + 1):
            # a failing edit with a long message: each event carries a long error
            (course / "edited.py").write_text(
                f"# %%\nraise ZeroDivisionError('edit {n} ' + 'x' * 200_000)\n")
            watch.wait_for(r"FAILED edited\.py", count=n, timeout=60)
        assert not any("ERRORED" in line for line in watch.lines), "\n".join(watch.lines)
        assert not any("Too many open files" in line for line in watch.lines)
        time.sleep(1.0)
        fds_after, rss_after = _figures(watch.proc.pid)
        print(f"\nwatch process: open files {fds_before} -> {fds_after}, "
              f"RSS {rss_before:.1f} -> {rss_after:.1f} MB, {REBUILDS} failing rebuilds, "
              f"{IDLE} idle connections, {STUCK} stuck event clients")
        assert fds_after < fds_before + 150
        assert rss_after < rss_before + 60
        assert (course / "_build" / "good.html").is_file()
        # Once the flood stops, the server answers real clients again.
        for s in sockets:
            s.close()
        assert _page(url + "good.html", within=15)
    finally:
        for s in sockets:
            s.close()
        watch.proc.terminate()
        watch.proc.wait(15)
        if watch.proc.stdout is not None:
            watch.proc.stdout.close()


def test_host_header_range_and_head_on_the_event_stream(tmp_path):
    from nbbuild.watch.server import PreviewServer

    out = tmp_path / "out"
    out.mkdir()
    (out / "data.bin").write_bytes(bytes(range(256)) * 1000)
    server = PreviewServer(out, "127.0.0.1", 0).start()
    try:
        base = server.url

        def ask(path: str, method: str = "GET", **headers: str):
            request = urllib.request.Request(base + path, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    return r.status, dict(r.headers), r.read()
            except urllib.error.HTTPError as e:
                with e:
                    return e.code, dict(e.headers), e.read()

        status, _, _ = ask("data.bin", Host="evil.example:80")
        assert status == 421  # a rebinding page's requests are refused
        status, headers, body = ask("data.bin", Range="bytes=10-19")
        assert status == 206 and body == bytes(range(10, 20))
        assert headers["Content-Range"] == "bytes 10-19/256000"
        status, _, body = ask("data.bin", Range="bytes=-5")
        assert status == 206 and body == bytes(range(251, 256))
        assert ask("data.bin", Range="bytes=999999-")[0] == 416
        status, headers, body = ask("_nbbuild/events", method="HEAD")
        assert status == 200 and body == b""
        status, _, body = ask("data.bin", Host="localhost:1")
        assert status == 200 and len(body) == 256000
    finally:
        server.close()
