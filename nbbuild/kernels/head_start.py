"""A kernel template started before nbbuild has imported its pipeline.

A cold build's first kernels wait for the kernel template (~0.4 s of imports),
which the pool starts when planning announces the first notebook: after nbbuild's
own imports and the kernelspec lookup, ~0.7 s into the command. ``nbbuild build``
therefore starts one template as its first act, for this interpreter, in nbbuild's
environment and with nothing preloaded, so that it imports ipykernel while nbbuild
imports itself and plans. The pool adopts it for its first template of the same
interpreter and environment (the usual ``python3`` kernel) and tells it then what
to preload (``kernel_template.py`` takes a preload request before its first fork).
A template not adopted (nothing to execute, another kernel) is killed when the
command ends. Only the command line does this; ``build()`` called from Python
starts its template when it needs one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nbbuild.platforms import supports_fork

#: The template script, beside this module.
TEMPLATE_SCRIPT = Path(__file__).with_name("kernel_template.py")


class HeadStart:
    """A template process started with ``subprocess`` (no event loop yet); the pool's
    ``KernelTemplate.adopt`` takes it over, with the folder it runs in."""

    def __init__(self) -> None:
        self.prefix = [sys.executable]
        self.env = dict(os.environ)
        #: Removed when the template ends (it holds the log and the empty cwd).
        self.folder = Path(tempfile.mkdtemp(prefix="nbbuild-template-"))
        self.cwd = self.folder / "cwd"
        self.cwd.mkdir()
        self.log = self.folder / "template.log"
        with open(self.log, "ab") as log:
            self.proc: subprocess.Popen | None = subprocess.Popen(
                [*self.prefix, str(TEMPLATE_SCRIPT)],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # Ctrl-C in the terminal is nbbuild's to handle
            )

    def kill(self) -> None:
        """End the process (it may be mid-import: no point asking) and remove its folder."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_waiting: HeadStart | None = None


def begin() -> None:
    """Start the head-start template (POSIX; once per process)."""
    global _waiting
    if _waiting is not None or not supports_fork():
        return
    try:
        _waiting = HeadStart()
    except OSError:
        _waiting = None  # the pool starts its templates as usual


def claim(prefix: list[str], env: dict[str, str] | None) -> HeadStart | None:
    """The waiting template, if it is what a template for ``prefix`` run in ``env``
    would be; the caller then owns it."""
    global _waiting
    head = _waiting
    if head is None or head.proc is None or head.proc.poll() is not None:
        return None
    if prefix != head.prefix or (env if env is not None else dict(os.environ)) != head.env:
        return None
    _waiting = None
    return head


def discard() -> None:
    """Kill the template if nobody adopted it."""
    global _waiting
    head, _waiting = _waiting, None
    if head is not None:
        head.kill()
