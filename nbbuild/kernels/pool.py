"""The warm kernel pool: kernels started ahead of need, each used for one notebook.

A build tells the pool, in order, which kernels it will ask for
(``expect``); the pool keeps up to ``spares`` of them starting or ready, so when
a notebook's turn comes its kernel is already up, in the notebook's own folder and
with its own kernelspec. Each kernel serves exactly one notebook and is then shut
down in the background: a fresh interpreter per notebook, as
``jupyter nbconvert --execute`` gives, without waiting for it to boot.

The pool owns every kernel it started, including those still starting, and
``close`` kills them all; it is idempotent and runs on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import platform
import re
import shutil
import tempfile
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nbbuild.platforms import kernel_transport

# Parallel kernels must not share IPython's SQLite history file.
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

    def read_cpu(self) -> None:
        """Keep the process's CPU time now, before it is killed."""
        import psutil

        pid = self.pid
        if pid is None:
            return
        try:
            t = psutil.Process(pid).cpu_times()
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
        await _stop(self.km, self.kc, self._log)
        _kill(started)


class PoolState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class KernelStartError(Exception):
    """A kernel did not start or did not become ready; ``log`` is its output."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


class KernelPool:
    """Start kernels ahead of demand, hand each out once, and clean up all of them."""

    def __init__(
        self,
        *,
        spares: int,
        startup_timeout: float = 60.0,
        env: dict[str, str] | None = None,
        max_starting: int | None = None,
        fork: bool = True,
        preload: tuple[str, ...] = (),
        setup_code: str | None = None,
    ) -> None:
        self.spares = max(0, spares)
        self.startup_timeout = startup_timeout
        self.env = dict(os.environ if env is None else env)
        self.state = PoolState.OPEN
        self.started = 0
        #: Seconds from the first launch until the first kernel was ready.
        self.startup_seconds = 0.0
        self._first_launch: float | None = None
        self._first_ready = asyncio.Event()
        self._runtime_dir, self._transport = _runtime_dir_and_transport()
        self._expected: deque[KernelRequest] = deque()
        self._starting: dict[KernelRequest, deque[asyncio.Task[Kernel]]] = defaultdict(deque)
        self._in_use: set[Kernel] = set()
        self._stopping: set[asyncio.Task[None]] = set()
        # Spares started for an earlier build (watch mode) that nobody has asked
        # for since: taken if wanted, else the first to make room.
        self._stale: set[asyncio.Task[Kernel]] = set()
        # Kernel start-up is CPU-bound: starting every spare at once delays the
        # kernels needed first. Starts queue here, in the order they were asked for.
        self._start_slots = asyncio.Semaphore(max(1, max_starting or spares))
        # One ZeroMQ context for every kernel manager and client of the pool:
        # jupyter_client otherwise makes two per kernel, each with an I/O thread
        # to start and to join.
        self._context: Any = None
        # Kernel templates to fork kernels from (forking.py), made on first need
        # (a build with nothing to execute never imports jupyter_client).
        self._fork = fork and supports_fork()
        self.preload = tuple(preload) if self._fork else ()
        #: Run silently in each kernel once it is ready, before it is handed out
        #: (nbbuild installs its file tracker this way, off the critical path).
        self.setup_code = setup_code
        self._templates: Any = None

    async def __aenter__(self) -> KernelPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def runtime_dir(self) -> Path:
        """Connection files and sockets of this pool's kernels live here."""
        return self._runtime_dir

    def expect(self, requests: Iterable[KernelRequest]) -> None:
        """Announce upcoming requests, in the order they will be made."""
        self._expected.extend(requests)
        self._refill()

    def forget_expected(self) -> None:
        """Drop announced requests nobody asked for (watch mode, between builds).

        Spares already started stay: the next build may want them; when it needs
        room for others, they give way first (``_refill``)."""
        self._expected.clear()
        self._stale.update(t for queue in self._starting.values() for t in queue)

    async def take(self, request: KernelRequest) -> Kernel:
        """A ready kernel for ``request``: a spare if one was started, else a new one."""
        if self.state is PoolState.CLOSED:
            raise RuntimeError("kernel pool is closed")
        queue = self._starting.get(request)
        if queue:
            task = queue.popleft()
            self._stale.discard(task)
        else:
            try:
                self._expected.remove(request)
            except ValueError:
                pass
            task = self._launch(request)
        self._refill()
        kernel = await task
        if not await kernel.km.is_alive():
            # A spare that died while waiting (killed, or its template ended):
            # the notebook gets a new one rather than a dead one.
            self.discard(kernel)
            kernel = await self._launch(request)
        self._in_use.add(kernel)
        return kernel

    async def first_ready(self) -> None:
        """Return once the pool's first kernel is ready (never, if none starts)."""
        await self._first_ready.wait()

    def discard(self, kernel: Kernel) -> None:
        """Shut a used kernel down in the background, off the critical path."""
        if kernel in self._in_use:
            kernel.read_cpu()
        self._in_use.discard(kernel)
        self._track(asyncio.ensure_future(kernel.shutdown()))

    async def close(self) -> None:
        """Kill every kernel the pool started: spares, starting, in use. Idempotent."""
        if self.state is PoolState.CLOSED:
            return
        self.state = PoolState.CLOSED
        self._expected.clear()
        self._stale.clear()
        pending = [t for q in self._starting.values() for t in q]
        self._starting.clear()
        for task in pending:
            task.add_done_callback(self._stop_if_started)
            task.cancel()
        for kernel in list(self._in_use):
            self.discard(kernel)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        while self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)
        if self._templates is not None:
            await self._templates.close()
        if self._context is not None:
            self._context.destroy(linger=0)
        shutil.rmtree(self._runtime_dir, ignore_errors=True)

    def pids(self) -> list[int]:
        """Process ids of the kernels alive now (in use or spare) and of the templates.

        Read from another thread by the resource sampler: only copies are iterated.
        """
        found = []
        kernels = list(self._in_use)
        for queue in list(self._starting.values()):
            for task in list(queue):
                if task.done() and not task.cancelled() and task.exception() is None:
                    kernels.append(task.result())
        for kernel in kernels:
            pid = kernel.pid
            if pid is not None:
                found.append(pid)
        if self._templates is not None:
            found.extend(self._templates.pids())
        return found

    @property
    def problems(self) -> list[str]:
        """Why kernels could not be forked as configured (a template failed)."""
        return list(self._templates.problems) if self._templates is not None else []

    @property
    def forked(self) -> bool:
        """True when kernels are being forked from a running template."""
        return self._templates is not None and self._templates.running

    def _refill(self) -> None:
        waiting = sum(len(q) for q in self._starting.values())
        while self.state is PoolState.OPEN and self._expected:
            if waiting >= self.spares:
                if not self._stale:
                    break
                self._retire(self._stale.pop())
                waiting -= 1
            request = self._expected.popleft()
            self._starting[request].append(self._launch(request))
            waiting += 1

    def _retire(self, task: asyncio.Task[Kernel]) -> None:
        """Stop a spare nobody wants (started or still starting)."""
        for queue in self._starting.values():
            if task in queue:
                queue.remove(task)
                break
        task.add_done_callback(self._stop_if_started)
        task.cancel()

    def _launch(self, request: KernelRequest) -> asyncio.Task[Kernel]:
        self.started += 1
        if self._first_launch is None:
            self._first_launch = time.perf_counter()
        return asyncio.ensure_future(self._start(request))

    def _stop_if_started(self, task: asyncio.Task[Kernel]) -> None:
        if not task.cancelled() and task.exception() is None:
            self.discard(task.result())

    def _track(self, task: asyncio.Task[None]) -> None:
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _start(self, request: KernelRequest) -> Kernel:
        async with self._start_slots:
            return await self._start_now(request)

    async def _start_now(self, request: KernelRequest) -> Kernel:
        from jupyter_client.manager import AsyncKernelManager

        if self._context is None:
            import zmq.asyncio

            self._context = zmq.asyncio.Context()
            # A client usually connects before its kernel has bound its sockets;
            # ZeroMQ then retries every 100 ms by default, which is most of a
            # forked kernel's start-up. Retry every 10 ms instead.
            self._context.setsockopt(zmq.RECONNECT_IVL, 10)
        name = f"kernel-{uuid.uuid4().hex[:12]}"
        km = AsyncKernelManager(
            kernel_name=request.kernel_name,
            transport=self._transport,
            connection_file=str(self._runtime_dir / f"{name}.json"),
            context=self._context,
        )
        log = open(self._runtime_dir / f"{name}.log", "w+b")  # noqa: SIM115 (closed in _stop)
        kc = None
        began = time.perf_counter()
        try:
            if self._fork:
                from nbbuild.kernels.forking import Templates, preload_for

                if self._templates is None:
                    self._templates = Templates(
                        self._runtime_dir, env=self.env, startup_timeout=self.startup_timeout
                    )
                await self._templates.prepare(
                    km, preload_for(self.preload, request.cwd), self.setup_code)
            await km.start_kernel(
                cwd=str(request.cwd),
                env=self.env,
                extra_arguments=KERNEL_ARGS,
                stdout=log,
                stderr=log,
            )
            kc = km.client(context=self._context)
            # No stdin channel: input() then fails at once instead of waiting for
            # the cell timeout. (start_channels() resets allow_stdin, so say it here.)
            kc.start_channels(stdin=False)
            info = await wait_until_ready(km, kc, self.startup_timeout)
            if self.setup_code and not getattr(km.provisioner, "set_up", False):
                try:
                    await run_silent(kc, self.setup_code, timeout=self.startup_timeout)
                except (TimeoutError, RuntimeError) as exc:
                    raise KernelStartError(f"kernel set-up failed: {exc}") from None
        except KernelStartError as exc:
            exc.log = _read(log)
            await asyncio.shield(_stop(km, kc, log))
            raise
        except BaseException:
            await asyncio.shield(_stop(km, kc, log))
            raise
        kernel = Kernel(request, km, kc, log, time.perf_counter() - began)
        if not self.startup_seconds and self._first_launch is not None:
            self.startup_seconds = time.perf_counter() - self._first_launch
        self._first_ready.set()
        kernel.language_info = info.get("language_info")
        return kernel


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
                    if msg["parent_header"].get("msg_id") in sent:
                        reply = msg["content"]
                except Empty:
                    pass
            try:
                msg = await kc.iopub_channel.get_msg(timeout=0.02)
                idle = idle or (
                    msg["parent_header"].get("msg_id") in sent
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
        if msg["parent_header"].get("msg_id") == msg_id:
            if msg["content"].get("status") != "ok":
                raise RuntimeError(f"nbbuild's own request failed in the kernel: {msg['content']}")
            return msg


# Unix socket paths must fit in sockaddr_un.sun_path (104 bytes on macOS, 108 on
# Linux); a kernel's longest is "<dir>/kernel-<12 hex>-ipc-<port>".
_MAX_IPC_DIR = 104 - len("/kernel-0123456789ab-ipc-65535") - 1


def _runtime_dir_and_transport() -> tuple[Path, str]:
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


def supports_fork() -> bool:
    """Forking kernels needs fork() (POSIX); Windows and others start them normally."""
    return hasattr(os, "fork") and platform.system() != "Windows"


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


async def _stop(km: Any, kc: Any, log: IO[bytes]) -> None:
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
