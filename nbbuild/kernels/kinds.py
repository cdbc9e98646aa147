"""What nbbuild may assume of a kernel, decided from its kernelspec and its
``kernel_info`` reply, never from its name.

nbbuild adds things to an ipykernel (IPython-only command-line options, the file
tracker and the output cap, which are Python code, a fork from a warm template)
and trusts its heartbeat, which a separate thread answers while a cell runs. Any
other kernel (bash_kernel, xeus-python, tslab, IRkernel, a C kernel) is started
exactly as ``jupyter nbconvert --execute`` starts it, over TCP on 127.0.0.1, and
watched through its process instead of its heartbeat.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

#: Module names that start an ipykernel (``python -m ipykernel_launcher``).
IPYKERNEL_MODULES = ("ipykernel_launcher", "ipykernel")
#: ``kernel_info`` implementations whose heartbeat is answered by its own thread,
#: so that silence means a frozen process rather than a busy cell.
BEATS_WHILE_BUSY = ("ipython", "xeus-python", "xpython")


def kernel_spec_manager() -> Any:
    """jupyter_client's KernelSpecManager, looking in the same folders, without
    importing IPython: its default list of folders imports ``IPython.paths`` (the
    whole of IPython, 0.1-0.2 s) for ``~/.ipython/kernels``, in nbbuild's process
    and before the first kernel can be announced. Made anew each time: the
    folders follow the environment (``JUPYTER_PATH``, ``IPYTHONDIR``)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_path

    ipython_dir = os.path.expanduser(os.environ.get("IPYTHONDIR") or "~/.ipython")
    return KernelSpecManager(kernel_dirs=[*jupyter_path("kernels"),
                                          os.path.join(ipython_dir, "kernels")])


def kernelspec_argv(kernel_name: str) -> list[str]:
    """The command of an installed kernelspec; empty when it is not installed
    (starting it then says so)."""
    try:
        return list(kernel_spec_manager().get_kernel_spec(kernel_name).argv)
    except Exception:
        return []


def is_ipykernel(argv: Sequence[str]) -> bool:
    """Whether a kernelspec's command starts an ipykernel: ``python -m
    ipykernel_launcher -f {connection_file}`` and the like."""
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] in IPYKERNEL_MODULES:
            return True
    return False


def runs_ipython_code(info: dict[str, Any] | None) -> bool:
    """Whether nbbuild's own Python set-up code (the file tracker, the output cap)
    can run in a kernel, from its ``kernel_info`` reply: an IPython kernel."""
    if not info:
        return False
    language = (info.get("language_info") or {}).get("name")
    return info.get("implementation") == "ipython" and language == "python"


def beats_while_busy(info: dict[str, Any] | None, ipykernel: bool) -> bool:
    """Whether an unanswered heartbeat means trouble (see ``BEATS_WHILE_BUSY``)."""
    if ipykernel:
        return True
    return bool(info) and str(info.get("implementation", "")).lower() in BEATS_WHILE_BUSY
