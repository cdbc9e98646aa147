"""Everything that depends on the operating system, in one place.

The default worker count and the event loop are platform decisions: on Windows,
process creation and ZeroMQ sockets are costly and pyzmq needs a selector loop.
Tests pass ``system``, ``cpu_count`` and ``available_memory`` to fake a platform.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import asyncio

#: The card's default: 4 notebooks at a time.
DEFAULT_WORKERS = 4
#: Never more than this on Windows unless asked for explicitly.
WINDOWS_MAX_WORKERS = 4
#: Upper bound elsewhere, however many cores the machine has.
MAX_DEFAULT_WORKERS = 16
#: Memory set aside for each worker: a running kernel plus its warm spare, with
#: room for a course that imports numpy, pandas and matplotlib.
MEMORY_PER_WORKER = 1024**3


def default_workers(
    *,
    system: str | None = None,
    cpu_count: int | None = None,
    available_memory: int | None = None,
) -> int:
    """How many notebooks to run at once when ``--workers`` is not given.

    Windows: 4 at most. Elsewhere: 4, or one per core on a bigger machine (up to
    16). Everywhere: no more than available memory allows at 1 GiB per worker,
    and at least 1.
    """
    system = system if system is not None else platform.system()
    if cpu_count is None:
        cpu_count = os.cpu_count() or 1
    if available_memory is None:
        import psutil

        available_memory = psutil.virtual_memory().available
    if system == "Windows":
        wanted = WINDOWS_MAX_WORKERS
    else:
        wanted = min(max(DEFAULT_WORKERS, cpu_count), MAX_DEFAULT_WORKERS)
    by_memory = available_memory // MEMORY_PER_WORKER
    return max(1, min(wanted, by_memory))


def loop_factory(system: str | None = None) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop constructor pyzmq supports on this platform.

    pyzmq's asyncio sockets need ``add_reader``, which Windows' default proactor
    loop lacks; the selector loop has it.
    """
    import asyncio  # here: the command line imports this module before its pipeline

    system = system if system is not None else platform.system()
    if system == "Windows":
        return asyncio.SelectorEventLoop
    return asyncio.new_event_loop


def supports_fork() -> bool:
    """Forking kernels needs fork() (POSIX); Windows and others start them normally."""
    return hasattr(os, "fork") and platform.system() != "Windows"


def kernel_transport(system: str | None = None) -> str:
    """``ipc`` (Unix sockets) on POSIX, so kernels started by concurrent nbbuild
    processes can never pick the same TCP port; ``tcp`` on Windows."""
    system = system if system is not None else platform.system()
    return "tcp" if system == "Windows" else "ipc"
