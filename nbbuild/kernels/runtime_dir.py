"""Each build's private folder for kernel connection files and ipc sockets, the
transport that fits it, and the folders of killed builds, removed at the next start.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from nbbuild.platforms import kernel_transport

# Unix socket paths must fit in sockaddr_un.sun_path (104 bytes on macOS, 108 on
# Linux); a kernel's longest is "<dir>/kernel-<12 hex>-ipc-<port>".
_MAX_IPC_DIR = 104 - len("/kernel-0123456789ab-ipc-65535") - 1


def runtime_dir_and_transport() -> tuple[Path, str]:
    """A private folder for connection files, and the transport that fits it.

    A deep TMPDIR (macOS, CI runners, pytest) makes ipc socket paths too long;
    then a short folder in /tmp is used, and if that fails too, TCP.
    """
    transport = kernel_transport()
    prefix = f"nbbuild-{os.getpid()}-"
    remove_dead_runtime_dirs(Path(tempfile.gettempdir()))
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if transport != "ipc" or len(str(folder)) <= _MAX_IPC_DIR:
        return folder, transport
    try:
        remove_dead_runtime_dirs(Path("/tmp"))
        short = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    except OSError:
        return folder, "tcp"
    shutil.rmtree(folder, ignore_errors=True)
    return short, "ipc"


_RUNTIME_DIR = re.compile(r"nbbuild-(\d+)-[A-Za-z0-9_]{8}")


def remove_dead_runtime_dirs(base: Path) -> list[Path]:
    """Remove the connection-file folders (``nbbuild-PID-xxxxxxxx``) that builds
    killed with SIGKILL left behind: those whose process is gone. The folders
    removed."""
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        match = _RUNTIME_DIR.fullmatch(entry.name)
        if not match or not entry.is_dir(follow_symlinks=False):
            continue
        pid = int(match.group(1))
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            os.kill(pid, 0)
            continue  # that build is still running
        except ProcessLookupError:
            pass
        except (OSError, AttributeError):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    return removed
