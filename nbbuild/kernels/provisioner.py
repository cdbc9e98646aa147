"""The jupyter_client side of a forked kernel: a provisioner that asks a template to
fork the kernel (else starts it the usual way), and a Popen look-alike for a process
that is the template's child, not ours.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

LAUNCHER = ["-m", "ipykernel_launcher"]


def split_ipykernel_command(cmd: list[str]) -> tuple[list[str], list[str]] | None:
    """``(interpreter prefix, launcher arguments)`` of a standard ipykernel command.

    ``[python, -X..., -m, ipykernel_launcher, -f, conn]`` gives
    ``([python, -X...], [-f, conn])``; any other command gives None. A bare
    ``python`` becomes this interpreter, as jupyter_client does when it launches.
    """
    for i in range(1, len(cmd) - 1):
        if cmd[i : i + 2] == LAUNCHER:
            prefix = list(cmd[:i])
            major, minor = sys.version_info[:2]
            if prefix[0] in {"python", f"python{major}", f"python{major}.{minor}"}:
                prefix[0] = sys.executable
            return prefix, list(cmd[i + 2 :])
    return None


class TemplateError(Exception):
    """The template could not start or could not fork."""


class ForkedProcess:
    """A Popen look-alike for a kernel that is the template's child, not ours.

    The template reaps it, so liveness is read from the process table, with its
    start time guarding against a reused pid.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        import psutil

        self.pid = pid
        self.returncode: int | None = None
        try:
            self._created = psutil.Process(pid).create_time()
        except psutil.Error:
            self._created = None
            self.returncode = -signal.SIGKILL

    def poll(self) -> int | None:
        import psutil

        if self.returncode is None:
            try:
                proc = psutil.Process(self.pid)
                if proc.create_time() != self._created or proc.status() == psutil.STATUS_ZOMBIE:
                    self.returncode = -signal.SIGKILL
            except psutil.Error:
                self.returncode = -signal.SIGKILL  # the real code went to the template
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


#: The launcher that keeps a started kernel below nbbuild (launcher.py).
LAUNCHER_SCRIPT = os.path.join(os.path.dirname(__file__), "launcher.py")


def guarded_command(cmd: list[str], log: str) -> list[str]:
    """``cmd`` run by the launcher, so the kernel and what it starts die with
    nbbuild (Linux); elsewhere ``cmd`` itself."""
    if not sys.platform.startswith("linux"):
        return cmd
    # nbbuild's pid is passed, not read by the launcher: were nbbuild killed
    # between its fork and the launcher's start, getppid() would already name
    # the reaper that adopted it, and the launcher would outlive nbbuild.
    return [sys.executable, "-S", "-E", LAUNCHER_SCRIPT, str(os.getpid()), log, "--", *cmd]


class GuardedProvisioner(LocalProvisioner):  # type: ignore[misc]
    """jupyter_client's local provisioner, with the kernel started by the launcher."""

    #: Whether the process is the launcher (the kernel is its child).
    guarded: bool = False

    async def wait(self) -> int | None:
        """As LocalProvisioner's, but polling every 10 ms instead of 100 ms: a killed
        kernel is gone within milliseconds, and the last ones are waited for
        before nbbuild can exit."""
        if self.process is None:
            return 0
        while await self.poll() is None:
            await asyncio.sleep(0.01)
        code = self.process.wait()
        for attr in ("stdout", "stderr", "stdin"):
            stream = getattr(self.process, attr, None)
            if stream:
                stream.close()
        self.process = None
        return code

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        log = kwargs.get("stdout")
        wrapped = guarded_command(cmd, getattr(log, "name", os.devnull))
        self.guarded = wrapped is not cmd
        return await super().launch_kernel(wrapped, **kwargs)


class ForkProvisioner(GuardedProvisioner):
    """Launch the kernel by asking a template to fork it; else start it normally."""

    #: The ``templates.KernelTemplate`` to fork from (set by ``Templates.prepare``).
    template: Any = None
    #: Gets the template again (restarted, if it died); set by ``Templates.prepare``.
    get_template: Any = None
    #: Code the child runs before it becomes a kernel (``Templates.prepare``).
    setup: str | None = None
    forked: bool = False

    @property
    def set_up(self) -> bool:
        """Whether the kernel ran ``setup`` (it was forked with it)."""
        return self.forked and bool(self.setup)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        split = split_ipykernel_command(cmd)
        log = kwargs.get("stdout")
        if self.template is not None and split is not None and hasattr(log, "name"):
            env = dict(kwargs.get("env") or os.environ)
            # What jupyter_client's launcher gives a kernel it starts on POSIX.
            env["JPY_PARENT_PID"] = str(os.getpid())
            cwd = str(kwargs.get("cwd") or os.getcwd())
            for attempt in range(2):
                try:
                    pid = await self.template.fork(split[1], cwd, env, log.name, self.setup)
                except TemplateError:
                    # It died since it was chosen: once, ask for it again (restarted).
                    if attempt or self.get_template is None:
                        break
                    self.template = await self.get_template()
                    if self.template is None:
                        break
                    continue
                self.forked = True
                self.process = ForkedProcess(pid)
                self.pid = pid
                self.pgid = pid  # the child called setsid()
                self.cwd = kwargs.get("cwd")
                return self.connection_info
        return await super().launch_kernel(cmd, **kwargs)
