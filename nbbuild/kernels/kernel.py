"""One kernel: what is asked for (its kernelspec and folder), the started kernel with
its client, the readiness check, silent requests, and stopping it with everything it
started.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]


@dataclass(frozen=True)
class KernelRequest:
    """What a notebook needs from a kernel: its kernelspec and working directory."""

    kernel_name: str
    cwd: Path


class Kernel:
    """A started, ready kernel with a connected client that refuses stdin."""

    def __init__(self, request: KernelRequest, km: Any, kc: Any, log: IO[bytes], startup: float):
        self.request = request
        self.km = km
        self.kc = kc
        self._log = log
        #: Seconds from launch until the kernel answered, on or off the critical path.
        self.startup = startup
        #: From the kernel's ``kernel_info_reply``, for the notebook's metadata.
        self.language_info: dict[str, Any] | None = None
        #: CPU seconds the kernel process used (with its finished children), read
        #: when it is discarded; None if it was already gone.
        self.cpu_seconds: float | None = None
        #: Whether nbbuild's Python set-up code runs in it (kinds.runs_ipython_code).
        self.runs_python = True
        #: Whether an unanswered heartbeat means a frozen kernel (kinds.py).
        self.beats_while_busy = True
        #: Called once the kernel is stopped (gives back its TCP ports).
        self.after_stop: Any = None

    def read_cpu(self) -> None:
        """Keep the kernel's CPU time now, before it is killed: its process (below
        the launcher, when one started it) with its finished children."""
        import psutil

        processes = self.processes()
        if not processes:
            return
        try:
            t = processes[0].cpu_times()
        except psutil.Error:
            return
        self.cpu_seconds = t.user + t.system + t.children_user + t.children_system

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def processes(self) -> list[Any]:
        """The kernel's process and every process it started (psutil), including
        daemons that left its session: a forked kernel's keeper (kernel_template.py)
        gathers them. Empty once the kernel is gone."""
        import psutil

        pid = self.pid
        if pid is None:
            return []
        try:
            kernel = psutil.Process(pid)
            root = kernel
            if getattr(self.km.provisioner, "guarded", False):  # below the launcher
                direct = kernel.children()
                return [*direct, *(p for child in direct for p in child.children(recursive=True))]
            if getattr(self.km.provisioner, "forked", False):
                root = kernel.parent() or kernel  # the keeper, where there is one
                if root.pid == os.getpid():
                    root = kernel
            tree = root.children(recursive=True)
            return tree if root is not kernel else [kernel, *tree]
        except psutil.Error:
            return []

    @property
    def forked(self) -> bool:
        return bool(getattr(getattr(self.km, "provisioner", None), "forked", False))

    def exit_description(self, log_lines: list[str]) -> str:
        """How the kernel process ended ("was killed by signal SIGKILL", "exited with
        code 3"), from its keeper's note in the log or from the process; "" if
        unknown."""
        for line in reversed(log_lines):
            if line.startswith("[nbbuild] kernel process "):
                return line.split(" ", 4)[-1]
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is None or self.forked:
            return ""
        with contextlib.suppress(Exception):
            code = process.poll()
            if code is not None and code < 0:
                import signal

                return f"was killed by signal {signal.Signals(-code).name}"
            if code is not None:
                return f"exited with code {code}"
        return ""

    def log_tail(self) -> str:
        """The end of what the kernel process wrote to stdout/stderr."""
        return _read(self._log)

    async def shutdown(self) -> None:
        # A kernel started the usual way has no keeper: what it started is found
        # now and stopped with it. (A forked kernel's keeper does that itself.)
        started = [] if getattr(self.km.provisioner, "forked", False) else self.processes()[1:]
        await stop_kernel(self.km, self.kc, self._log)
        _kill(started)
        if self.after_stop is not None:
            self.after_stop()


def _parent_id(msg: dict[str, Any]) -> Any:
    """The id of the request a message answers; None for a message that answers
    none (some kernels send ``parent_header: null`` rather than ``{}``)."""
    return (msg.get("parent_header") or {}).get("msg_id")


class KernelStartError(Exception):
    """A kernel did not start or did not become ready; ``log`` is its output."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


async def wait_until_ready(km: Any, kc: Any, timeout: float) -> dict[str, Any]:
    """Wait until the kernel answers ``kernel_info`` on shell *and* IOPub is live.

    jupyter_client's ``wait_for_ready`` ends with 0.2 s of waiting for IOPub to
    fall silent. Seeing an ``idle`` status that answers one of our own requests
    proves IOPub is connected without that wait. A subscriber that joins after the
    kernel published misses the message (ZeroMQ's slow joiner), so the request is
    repeated every ``_READY_ROUND`` seconds until both have been seen.
    Returns the ``kernel_info_reply`` content.
    """
    from queue import Empty

    deadline = time.monotonic() + timeout
    sent: set[str] = set()
    reply = None
    idle = False
    while time.monotonic() < deadline:
        sent.add(kc.kernel_info())
        round_end = min(time.monotonic() + _READY_ROUND, deadline)
        while time.monotonic() < round_end and not (reply and idle):
            if reply is None:
                try:
                    msg = await kc.shell_channel.get_msg(timeout=0.02)
                    if _parent_id(msg) in sent:
                        reply = msg["content"]
                except Empty:
                    pass
            try:
                msg = await kc.iopub_channel.get_msg(timeout=0.02)
                idle = idle or (
                    _parent_id(msg) in sent
                    and msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"
                )
            except Empty:
                pass
        if reply is not None and idle:
            return reply
        if not await km.is_alive():
            raise KernelStartError("kernel died before it became ready")
    raise KernelStartError(f"kernel did not become ready within {timeout:g} s")


_READY_ROUND = 0.1


async def run_silent(kc: Any, code: str, *, timeout: float, **kwargs: Any) -> dict[str, Any]:
    """Run ``code`` unseen (no outputs, no execution count, no history) and return
    the ``execute_reply``; RuntimeError if it failed, TimeoutError if none came."""
    from queue import Empty

    msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False, **kwargs)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no reply from the kernel within {timeout:g} s")
        try:
            msg = await kc.shell_channel.get_msg(timeout=min(left, 1.0))
        except Empty:  # keep waiting until the deadline
            continue
        if _parent_id(msg) == msg_id:
            if msg["content"].get("status") != "ok":
                raise RuntimeError(f"nbbuild's own request failed in the kernel: {msg['content']}")
            return msg


def _read(log: IO[bytes], limit: int = 2000) -> str:
    """The last ``limit`` bytes of a kernel's log (written by the kernel, read by name:
    a forked kernel writes through its own descriptor)."""
    try:
        log.flush()
        with open(log.name, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        return ""


def _kill(processes: list[Any]) -> None:
    import psutil

    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.kill()


async def stop_kernel(km: Any, kc: Any, log: IO[bytes]) -> None:
    """Stop channels, kill the kernel now, remove its files; tolerate a dead kernel."""
    try:
        if kc is not None:
            kc.stop_channels()
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
    except Exception:
        pass
    finally:
        try:
            await km.cleanup_resources()
        except Exception:
            pass
        log.close()
