"""The inside of a render process (render_processes.py starts them).

multiprocessing's fork server imports this module once, and with it nbconvert,
Jinja, Pygments and a warm set of exporters; every render process is forked from
that server and starts with all of it (~0.06 s to a first page, against ~1.5 s
for a fresh interpreter). Nothing here records anything: a process renders and
writes files (write.py) and returns what it wrote.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from pathlib import Path

from nbbuild.course.sources import LoadedNotebook
from nbbuild.render.exporters import Exporters
from nbbuild.render.write import RenderContext, Written, render_and_write

#: Warm exporters by (reveal URL prefix, assets); one render process renders for
#: one build at a time, and the instances are kept between builds (watch mode).
_exporters: dict[tuple[str | None, str], Exporters] = {}
#: The build whose context is loaded: (its file, the context).
_context: tuple[str, RenderContext] | None = None


def warm(reveal_url_prefix: str | None, assets: str) -> Exporters:
    key = (reveal_url_prefix, assets)
    if key not in _exporters:
        exporters = Exporters(("html", "slides"), reveal_url_prefix=reveal_url_prefix,
                              assets=assets)
        exporters.warm_up()
        _exporters[key] = exporters
    return _exporters[key]


def start(parent: int) -> None:
    """Initialise a render process: Ctrl-C is the build's to handle (it stops the
    processes after the writes under way), and a process whose build is gone ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(parent, os.getppid()), daemon=True).start()


def _end_with(build: int, server: int) -> None:
    """End this process once the build is gone: its server (the parent here) then
    exits, or, on a platform that spawns, the build was the parent itself."""
    while True:
        time.sleep(0.2)
        if os.getppid() not in (server, build):
            os._exit(1)
        try:
            os.kill(build, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass


def render(context_file: str, loaded: LoadedNotebook, only: set[str] | None) -> Written:
    """Render and write one notebook's outputs for the build described in
    ``context_file`` (written once per build by render_processes.py)."""
    global _context
    if _context is None or _context[0] != context_file:
        _context = (context_file, pickle.loads(Path(context_file).read_bytes()))
    context = _context[1]
    exporters = warm(context.settings.reveal_url_prefix, context.settings.assets)
    return render_and_write(exporters, context, loaded, only)


def ready() -> int:
    """A no-op the build submits to each new process, to know it is up."""
    return os.getpid()

