"""TCP ports for kernels that do not take ``ipc`` sockets, reserved so that no two
kernels, of this build or of a build of another course running at the same time,
are given one port.

A port is found as jupyter_client finds one (bind to port 0 on 127.0.0.1, note the
port, close), then claimed by an exclusive lock on a file named after it in a
folder every nbbuild process of this user shares. The lock is held until the
kernel is stopped; a process that dies loses its locks with it, so nothing needs
cleaning. (jupyter_client alone only avoids handing a port out twice within one
process.)
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

#: Attempts at finding a free, unclaimed port, per port.
_ATTEMPTS = 50


def _folder() -> Path:
    base = Path("/tmp") if os.name == "posix" else Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    folder = base / f"nbbuild-ports-{uid}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class PortClaims:
    """The ports this process holds, by the kernel they were claimed for."""

    def __init__(self) -> None:
        self._held: dict[str, list[tuple[int, int]]] = {}

    def claim(self, owner: str, count: int) -> list[int]:
        """``count`` ports on 127.0.0.1, held for ``owner`` until ``release``."""
        folder = _folder()
        got: list[tuple[int, int]] = []
        try:
            while len(got) < count:
                got.append(_claim_one(folder, {p for p, _ in got}))
        except BaseException:
            _close(got)
            raise
        self._held[owner] = got
        return [port for port, _ in got]

    def release(self, owner: str) -> None:
        _close(self._held.pop(owner, []))

    def release_all(self) -> None:
        for owner in list(self._held):
            self.release(owner)


def _claim_one(folder: Path, taken: set[int]) -> tuple[int, int]:
    for _ in range(_ATTEMPTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port in taken:
            continue
        fd = os.open(folder / str(port), os.O_RDWR | os.O_CREAT, 0o600)
        if _lock(fd):
            return port, fd
        os.close(fd)
    raise OSError(f"no free TCP port on 127.0.0.1 after {_ATTEMPTS} attempts")


def _lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: the bind probe alone, as jupyter_client does
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _close(held: list[tuple[int, int]]) -> None:
    for _port, fd in held:
        try:
            os.close(fd)
        except OSError:
            pass
