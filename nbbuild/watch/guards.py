"""What the preview server refuses: paths that leave the output folder however they
are encoded, and ``Host`` names that are not the server's own (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import unquote


def safe_path(root: Path, url_path: str) -> Path | None:
    """The file under ``root`` that the URL path names; None for anything else:
    ``..`` (however encoded), backslashes, NUL bytes, absolute or drive paths, and
    paths whose real location (symlinks followed) leaves ``root``."""
    text = unquote(url_path)
    if "%" in text or "\0" in text or "\\" in text:  # encoded twice, NUL, backslash
        return None
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." or ":" in p for p in parts):
        return None
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, *parts))
    if target != real_root and not target.startswith(real_root + os.sep):
        return None
    if os.path.isdir(target):
        target = os.path.join(target, "index.html")
    return Path(target) if os.path.isfile(target) else None


def allowed_hosts(host: str) -> set[str]:
    """``Host`` header values accepted from a server bound to ``host``: its loopback
    names when it is bound to loopback; an empty set (any) otherwise."""
    if not is_loopback(host):
        return set()
    return {"localhost", "127.0.0.1", "[::1]", host}


def host_name(header: str) -> str:
    """``Host`` without its port: ``[::1]:8000`` -> ``[::1]``, ``a:80`` -> ``a``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.split(":", 1)[0]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def looks_hostile(url_path: str) -> bool:
    text = unquote(unquote(url_path))
    return ".." in text or "\\" in text or "\0" in text
