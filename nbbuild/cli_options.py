"""The options ``build`` and ``watch`` share, apart from the commands they shape
(cli.py): where, what, how many, how long."""

from __future__ import annotations

from typing import Any

import click


def _render_processes(ctx: Any, param: Any, value: str | None) -> int | str | None:
    """``--render-processes``: a whole number or ``auto``."""
    if value is None or value == "auto":
        return value
    if value.isdigit():
        return int(value)
    raise click.BadParameter("a whole number or auto")


def build_options(command: Any) -> Any:
    """The options ``build`` and ``watch`` share: where, what, how many, how long."""
    options = [
        click.argument("course", type=click.Path(exists=True, file_okay=False), default="."),
        click.option("-o", "--out", type=click.Path(file_okay=False),
                     help="Output folder [COURSE/_build]."),
        click.option("--out-overwrite", "out_overwrite", is_flag=True, default=None,
                     help="Build into a non-empty folder nbbuild did not make."),
        click.option("-f", "--formats",
                     help="Comma-separated: html,slides,notebook,code [html,slides,notebook]."),
        click.option("-j", "--workers", type=click.IntRange(min=1),
                     help="Notebooks run at once [4]."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
                     help="Per-cell timeout, s [300]."),
        click.option("--notebook-timeout", type=click.FloatRange(min=0, min_open=True),
                     help="Limit on a whole notebook's execution, s [none]."),
        click.option("--cache-dir", type=click.Path(file_okay=False),
                     help="The course's store [COURSE/.nbbuild]."),
        click.option("--fork/--no-fork", "fork_kernels", default=None,
                     help="Fork kernels from a warm template (POSIX) [fork]."),
        click.option("--render-processes", "render_processes", metavar="N|auto",
                     callback=_render_processes,
                     help="Processes rendering beside the export thread; 0: none [auto]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command
