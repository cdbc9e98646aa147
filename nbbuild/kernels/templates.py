"""Fresh kernels for almost nothing: fork them from a template (POSIX only).

A kernel's start-up is 85% imports (ipykernel, IPython, jupyter_client, debugpy).
``KernelTemplate`` runs ``kernel_template.py`` in the kernel's own interpreter: it
imports all that once and forks a child per kernel. Each child takes the
notebook's working directory, environment and argv and becomes an ordinary
ipykernel with its own sockets, so every notebook still starts from a fresh
interpreter state. It is plugged in as a jupyter_client kernel provisioner
(``ForkProvisioner``), so nbclient and the rest of nbbuild drive a forked kernel
like any other.

Only standard ipykernel kernelspecs (``... -m ipykernel_launcher -f {connection_file}``)
are forked; any other kernel, Windows, or a template that fails, falls back to
jupyter_client's normal start. What a fork shares with its template, and a fresh
process would not: the interpreter's string hash seed (set once per template, so
per build) and modules imported by ipykernel itself. Notebook code never ran there.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from nbbuild.kernels import head_start
from nbbuild.kernels.head_start import TEMPLATE_SCRIPT, HeadStart
from nbbuild.kernels.preload import module_name
from nbbuild.kernels.provisioner import (
    ForkProvisioner,
    TemplateError,
    split_ipykernel_command,
)


def preload_for(preload: tuple[str, ...], cwd: Path) -> tuple[str, ...]:
    """The preload a kernel working in ``cwd`` may have: ``preload``, or none when a
    preloaded import would have gone differently in that folder.

    The template imports in an empty folder. A fresh kernel in ``cwd`` would read
    ``cwd/matplotlibrc`` when importing matplotlib, and would import a local
    ``numpy.py`` (say) instead of the installed package; such notebooks get a
    kernel forked from a template without preload.
    """
    if not preload:
        return ()
    tops = {module_name(name).split(".")[0] for name in preload}
    if "matplotlib" in tops and (cwd / "matplotlibrc").exists():
        return ()
    for top in tops:
        if (cwd / f"{top}.py").exists() or (cwd / top).is_dir():
            return ()
    return preload


class KernelTemplate:
    """One template process for one interpreter command; forks kernels on request."""

    def __init__(
        self,
        prefix: list[str],
        runtime_dir: Path,
        *,
        preload: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
    ):
        self.prefix = prefix
        self.preload = preload
        #: The modules it did import (an optional one may not be installed).
        self.preloaded: tuple[str, ...] = ()
        self.runtime_dir = runtime_dir
        self.env = env
        self.startup_timeout = startup_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        name = f"template-{uuid.uuid4().hex[:8]}"
        self._log = runtime_dir / f"{name}.log"
        # An empty folder of its own: nothing a preloaded import reads from its
        # working directory (a matplotlibrc, a module) can come from the course.
        self._cwd = runtime_dir / name
        #: A folder to remove when the template ends (an adopted one's).
        self._folder: Path | None = None

    async def start(self) -> None:
        self._cwd.mkdir()
        args = ["--preload", ",".join(self.preload)] if self.preload else []
        with open(self._log, "ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.prefix,
                str(TEMPLATE_SCRIPT),
                *args,
                cwd=self._cwd,
                env=self.env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # Ctrl-C in the terminal is nbbuild's to handle
            )
        await self._until_ready()

    async def adopt(self, head: HeadStart) -> None:
        """Take over a template the command line started (head_start.py), and have it
        import ``preload`` now."""
        assert head.proc is not None
        self._proc = await _PipedProcess.wrap(head.proc)
        head.proc = None
        self._log, self._cwd, self._folder = head.log, head.cwd, head.folder
        try:
            await self._until_ready()
            if self.preload:
                reply = await self._ask({"preload": list(self.preload)}, self.startup_timeout)
                if "preloaded" not in reply:
                    raise TemplateError(reply.get("error") or f"preload failed: {reply}")
                self.preloaded = tuple(reply["preloaded"])
        except BaseException:  # cancelled too: nobody would end it
            proc, self._proc = self._proc, None
            proc.end_now()
            shutil.rmtree(head.folder, ignore_errors=True)
            raise

    async def _until_ready(self) -> None:
        reply = await self._read(self.startup_timeout)
        if "ready" not in reply:
            raise TemplateError(reply.get("error") or f"template did not start: {reply}")
        self.preloaded = tuple(reply.get("preloaded", ()))

    @property
    def adopted(self) -> bool:
        """Whether it is the command line's template (head_start.py)."""
        return self._folder is not None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.alive else None

    async def fork(self, args: list[str], cwd: str, env: dict[str, str], log: str,
                   setup: str | None = None) -> int:
        """Fork a kernel; ``args`` are the launcher's (``-f CONN ...``); ``setup`` is
        code the child runs before it becomes a kernel. Returns its pid."""
        if not self.alive:
            raise TemplateError("template is not running")
        request = {"argv": args, "cwd": cwd, "env": env, "log": log}
        if setup:
            request["setup"] = setup
        async with self._lock:
            try:
                reply = await self._ask(request, 10.0)
            except (TemplateError, OSError) as exc:
                # A late answer would be taken for the next request's: retire it.
                await self.close()
                raise TemplateError(str(exc)) from None
        if "pid" not in reply:
            raise TemplateError(reply.get("error", f"unexpected reply {reply}"))
        return int(reply["pid"])

    async def _ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request; its answer."""
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write((json.dumps(request) + "\n").encode())
        await self._proc.stdin.drain()
        return await self._read(timeout)

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        except TimeoutError:
            raise TemplateError(f"no answer from the template within {timeout:g} s") from None
        if not line:
            raise TemplateError(f"template exited; see {self._log}")
        return json.loads(line)

    async def close(self) -> None:
        """End the template (its kernels are managed by the pool). Idempotent."""
        proc, self._proc = self._proc, None
        try:
            if proc is None or proc.returncode is not None:
                return
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        finally:
            if proc is not None and self._folder is not None:
                if isinstance(proc, _PipedProcess):
                    proc.close_pipes()
                shutil.rmtree(self._folder, ignore_errors=True)


class _PipedProcess:
    """asyncio's ``Process`` interface (what ``KernelTemplate`` uses of it) over a
    ``subprocess.Popen`` started before the event loop ran (head_start.py)."""

    def __init__(self, popen: subprocess.Popen, stdin: asyncio.StreamWriter,
                 stdout: asyncio.StreamReader, read_transport: asyncio.BaseTransport) -> None:
        self._popen = popen
        self.stdin = stdin
        self.stdout = stdout
        self._read_transport = read_transport
        self.pid = popen.pid

    @classmethod
    async def wrap(cls, popen: subprocess.Popen) -> _PipedProcess:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**20)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), popen.stdout)
        write_transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), popen.stdin)
        writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
        return cls(popen, writer, reader, read_transport)

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    async def wait(self) -> int:
        while self._popen.poll() is None:
            await asyncio.sleep(0.01)
        return self._popen.returncode

    def kill(self) -> None:
        self._popen.kill()

    def end_now(self) -> None:
        """Kill it and reap it (a killed process is gone within milliseconds)."""
        self._popen.kill()
        self._popen.wait()
        self.close_pipes()

    def close_pipes(self) -> None:
        self.stdin.close()
        self._read_transport.close()


#: (interpreter command, preload, the kernelspec's own environment variables).
TemplateKey = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]


class Templates:
    """The templates of one pool: one per (interpreter command, preload), started on
    first need.

    A template that dies is started again, up to ``MAX_RESTARTS`` times per key; one
    that fails to start is not used: those kernels start normally.
    """

    MAX_RESTARTS = 3

    def __init__(
        self,
        runtime_dir: Path,
        *,
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.env = env
        self.startup_timeout = startup_timeout
        self._tasks: dict[TemplateKey, asyncio.Task[KernelTemplate | None]] = {}
        self._restarts: dict[TemplateKey, int] = {}
        #: Why a template could not be used (for the build's warnings), once each.
        self.problems: list[str] = []

    def _started(self) -> list[KernelTemplate]:
        return [t.result() for t in list(self._tasks.values())
                if t.done() and not t.cancelled() and t.result() is not None]

    def pids(self) -> list[int]:
        return [t.pid for t in self._started() if t.pid is not None]

    @property
    def head_started(self) -> bool:
        """Whether a template was the command line's (head_start.py)."""
        return any(t.adopted for t in self._started())

    @property
    def preloaded(self) -> tuple[str, ...]:
        """The modules the templates imported for their kernels."""
        return tuple(dict.fromkeys(name for t in self._started() for name in t.preloaded))

    @property
    def running(self) -> bool:
        return any(
            t.done() and not t.cancelled() and t.result() is not None and t.result().alive
            for t in self._tasks.values()
        )

    async def prepare(self, km: Any, preload: tuple[str, ...] = (), setup: str | None = None) -> None:
        """Give ``km`` a provisioner that forks from a template, when one can serve it.

        ``setup`` is code each forked child runs before it starts the kernel (the
        file tracker): the same effect as a silent execution once it is ready, and
        one request less per kernel. ``provisioner.set_up`` then says it ran."""
        split = split_ipykernel_command(list(km.kernel_spec.argv))
        if split is None:
            return
        # A kernelspec may set environment variables; preloaded modules must be
        # imported under them, as the kernel would import them.
        spec_env = tuple(sorted((getattr(km.kernel_spec, "env", None) or {}).items()))
        key = (tuple(split[0]), preload, spec_env)
        template = await self._get(key)
        if template is None or not template.alive:
            return
        km.kernel_id = km.kernel_id or str(uuid.uuid4())
        provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        provisioner.template = template
        provisioner.get_template = lambda: self._get(key)
        provisioner.setup = setup
        km.provisioner = provisioner

    async def _get(self, key: TemplateKey) -> KernelTemplate | None:
        template = await self._get_one(key)
        if template is None and key[1]:
            # The preload failed: fork from a template without it.
            return await self._get_one((key[0], (), key[2]))
        return template

    async def _get_one(self, key: TemplateKey) -> KernelTemplate | None:
        task = self._task(key)
        template = await asyncio.shield(task)
        if template is None or template.alive:
            return template
        if self._tasks.get(key) is task:  # the first to find it dead restarts it
            if self._restarts.get(key, 0) >= self.MAX_RESTARTS:
                return None
            self._restarts[key] = self._restarts.get(key, 0) + 1
            del self._tasks[key]
        return await asyncio.shield(self._task(key))

    def _task(self, key: TemplateKey) -> asyncio.Task[KernelTemplate | None]:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._start(key))
            self._tasks[key] = task
        return task

    async def _start(self, key: TemplateKey) -> KernelTemplate | None:
        prefix, preload, spec_env = key
        env = self.env
        if spec_env:
            env = {**(self.env if self.env is not None else os.environ), **dict(spec_env)}
        def new() -> KernelTemplate:
            return KernelTemplate(list(prefix), self.runtime_dir, preload=preload, env=env,
                                  startup_timeout=self.startup_timeout)

        template = new()
        head = head_start.claim(list(prefix), env)
        if head is not None:
            try:
                await template.adopt(head)
                return template
            except (TemplateError, OSError, ValueError):
                await template.close()  # and one is started as usual (the same error says why)
                template = new()
        try:
            await template.start()
        except (TemplateError, OSError, ValueError) as exc:
            await template.close()
            problem = f"kernel template for {' '.join(prefix)}: {exc}"
            if preload:
                problem += "; kernels start without preload"
            if problem not in self.problems:
                self.problems.append(problem)
            return None
        return template

    async def close(self) -> None:
        """End every template (not the kernels forked from them). Idempotent."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            if not task.done():
                task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, KernelTemplate):
                await result.close()


