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
import enum
import os
import shutil
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nbbuild.kernels.kernel import (
    KERNEL_ARGS,
    Kernel,
    KernelRequest,
    KernelStartError,
    _read,
    run_silent,
    stop_kernel,
    wait_until_ready,
)
from nbbuild.kernels.kinds import (
    beats_while_busy,
    is_ipykernel,
    kernel_spec_manager,
    kernelspec_argv,
    runs_ipython_code,
)
from nbbuild.kernels.ports import PortClaims
from nbbuild.kernels.runtime_dir import runtime_dir_and_transport
from nbbuild.platforms import supports_fork

# Parallel kernels must not share IPython's SQLite history file.


class PoolState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


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
        preload: tuple[str, ...] | Callable[[], tuple[str, ...]] = (),
        setup_code: str | None = None,
        transports: dict[str, str] | None = None,
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
        self._runtime_dir, self._transport = runtime_dir_and_transport()
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
        #: Modules for the kernel templates to import, or what says which (called
        #: when the first kernel is forked: ``preload = "auto"`` reads the course).
        self.preload = preload if self._fork else ()
        #: Run silently in each kernel once it is ready, before it is handed out
        #: (nbbuild installs its file tracker this way, off the critical path).
        self.setup_code = setup_code
        self._templates: Any = None
        self._ports = PortClaims()
        self._specs: dict[str, list[str]] = {}
        #: Transport by kernelspec name (``kernel_transport`` setting); others:
        #: ``ipc`` (POSIX) for ipykernel, ``tcp`` for every other kernel.
        self.transports = dict(transports or {})

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
        # Nothing forks any more: the templates end beside the kernels' shutdowns
        # (a template kills what it forked anyway).
        templates = self._templates
        ending = asyncio.ensure_future(templates.close()) if templates is not None else None
        while self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)
        if ending is not None:
            await ending
        if self._context is not None:
            self._context.destroy(linger=0)
        self._ports.release_all()
        shutil.rmtree(self._runtime_dir, ignore_errors=True)

    def _argv(self, kernel_name: str) -> list[str]:
        """The kernelspec's command (looked up once per name)."""
        if kernel_name not in self._specs:
            self._specs[kernel_name] = kernelspec_argv(kernel_name)
        return self._specs[kernel_name]

    def _transport_for(self, kernel_name: str, ipykernel: bool) -> str:
        """``ipc`` where it is proven (ipykernel, POSIX), TCP for other kernels:
        some die on socket paths longer than ~32 characters, some bind another
        path than the one they are given."""
        chosen = self.transports.get(kernel_name)
        if chosen:
            return chosen
        return self._transport if ipykernel else "tcp"

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
            if getattr(kernel.km.provisioner, "guarded", False):  # the launcher's kernel
                found.extend(p.pid for p in kernel.processes()[:1])
        if self._templates is not None:
            found.extend(self._templates.pids())
        return found

    @property
    def problems(self) -> list[str]:
        """Why kernels could not be forked as configured (a template failed)."""
        return list(self._templates.problems) if self._templates is not None else []

    def preload_from(self, choose: Callable[[], tuple[str, ...]]) -> None:
        """Let ``choose`` say what to preload when the first kernel is forked
        (``preload = "auto"``), unless a template already exists (a watch
        session keeps the choice of its first build)."""
        if self._fork and self._templates is None:
            self.preload = choose

    @property
    def head_started(self) -> bool:
        """Whether a template was the one the command line started (head_start.py)."""
        return self._templates is not None and self._templates.head_started

    @property
    def preloaded(self) -> tuple[str, ...]:
        """The modules the kernel templates did import (``preload`` less what is
        not installed)."""
        return self._templates.preloaded if self._templates is not None else ()

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
        ipykernel = is_ipykernel(self._argv(request.kernel_name))
        transport = self._transport_for(request.kernel_name, ipykernel)
        km = AsyncKernelManager(
            kernel_name=request.kernel_name,
            kernel_spec_manager=kernel_spec_manager(),
            transport=transport,
            # with ipc, ``ip`` is the sockets' path prefix: jupyter_client's default
            **({"ip": "127.0.0.1"} if transport == "tcp" else {}),
            connection_file=str(self._runtime_dir / f"{name}.json"),
            context=self._context,
        )
        if transport == "tcp":  # claimed, so that no other build's kernel gets them
            (km.shell_port, km.iopub_port, km.stdin_port, km.hb_port,
             km.control_port) = self._ports.claim(name, 5)
        log = open(self._runtime_dir / f"{name}.log", "w+b")  # noqa: SIM115 (closed in stop_kernel)
        kc = None
        began = time.perf_counter()
        try:
            if self._fork and ipykernel:
                from nbbuild.kernels.templates import Templates, preload_for

                if self._templates is None:
                    self._templates = Templates(
                        self._runtime_dir, env=self.env, startup_timeout=self.startup_timeout
                    )
                if callable(self.preload):
                    self.preload = tuple(self.preload())
                await self._templates.prepare(
                    km, preload_for(self.preload, request.cwd), self.setup_code)
            if km.provisioner is None:  # started, not forked: by the launcher
                from nbbuild.kernels.provisioner import GuardedProvisioner

                km.kernel_id = km.kernel_id or str(uuid.uuid4())
                km.provisioner = GuardedProvisioner(
                    kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
            await km.start_kernel(
                cwd=str(request.cwd),
                env=self.env,
                extra_arguments=KERNEL_ARGS if ipykernel else [],
                stdout=log,
                stderr=log,
            )
            kc = km.client(context=self._context)
            # No stdin channel: input() then fails at once instead of waiting for
            # the cell timeout. (start_channels() resets allow_stdin, so say it here.)
            kc.start_channels(stdin=False)
            info = await wait_until_ready(km, kc, self.startup_timeout)
            python = runs_ipython_code(info)
            if python and self.setup_code and not getattr(km.provisioner, "set_up", False):
                try:
                    await run_silent(kc, self.setup_code, timeout=self.startup_timeout)
                except (TimeoutError, RuntimeError) as exc:
                    raise KernelStartError(f"kernel set-up failed: {exc}") from None
        except KernelStartError as exc:
            exc.log = _read(log)
            await asyncio.shield(stop_kernel(km, kc, log))
            self._ports.release(name)
            raise
        except BaseException:
            await asyncio.shield(stop_kernel(km, kc, log))
            self._ports.release(name)
            raise
        kernel = Kernel(request, km, kc, log, time.perf_counter() - began)
        kernel.after_stop = lambda: self._ports.release(name)
        kernel.runs_python = python
        kernel.beats_while_busy = beats_while_busy(info, ipykernel)
        if not self.startup_seconds and self._first_launch is not None:
            self.startup_seconds = time.perf_counter() - self._first_launch
        self._first_ready.set()
        kernel.language_info = info.get("language_info")
        return kernel


