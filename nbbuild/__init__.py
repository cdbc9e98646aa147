"""nbbuild: build Jupyter course material fast.

Every notebook of a course is executed once, on a kernel that a warm pool started
ahead of time, and rendered to every requested format from that one execution.

The root package stays light (no nbconvert or jupyter_client import) so that the
command line starts quickly; ``build`` imports the pipeline when it is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BuildResult",
    "NotebookResult",
    "Settings",
    "Status",
    "__version__",
    "build",
    "load_settings",
]

if TYPE_CHECKING:  # pragma: no cover
    from nbbuild.config import Settings, load_settings
    from nbbuild.model import BuildResult, NotebookResult, Status
    from nbbuild.pipeline.build import build

_LAZY = {
    "build": "nbbuild.pipeline.build",
    "Settings": "nbbuild.config",
    "load_settings": "nbbuild.config",
    "BuildResult": "nbbuild.model",
    "NotebookResult": "nbbuild.model",
    "Status": "nbbuild.model",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use, keeping ``import nbbuild`` cheap."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
