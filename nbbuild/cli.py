"""The command line: thin click commands around ``build()``.

``nbbuild COURSE`` is short for ``nbbuild build COURSE``.

Exit codes: 0 every notebook built; 1 some notebook failed or errored;
2 bad usage, settings or course layout; 130 interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nbbuild import __version__
from nbbuild.cli_options import build_options

EXIT_OK = 0
EXIT_NOTEBOOKS_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _DefaultToBuild(click.Group):
    """Route ``nbbuild PATH ...`` to ``nbbuild build PATH ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["build", *args]
        elif args and args[0].startswith("-") and args[0] not in ("--help", "-h", "--version"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToBuild, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nbbuild")
def main() -> None:
    """Build a course of Jupyter notebooks into HTML pages, slides and executed notebooks.

    Run `nbbuild COURSE` (short for `nbbuild build COURSE`).
    """


@main.command()
@build_options
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--cluster", help="Run notebooks on Dask: tcp://scheduler:8786, or local[:N].")
@click.option("--shared-fs", "cluster_shared_fs", is_flag=True, default=None,
              help="With --cluster: workers see the course at the same path.")
@click.option(
    "--no-wait", is_flag=True, help="Stop at once if another build of the course is running."
)
@click.option("--force", is_flag=True, help="Execute every notebook, whatever the cache says.")
@click.option("--retry-failed", is_flag=True,
              help="Execute notebooks that failed last time, though nothing changed.")
@click.option("--strict", is_flag=True, default=None,
              help="Broken links fail the build (exit 1).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON build report."
)
@click.option("-q", "--quiet", is_flag=True, help="Print failures only.")
def build(
    course: str,
    paths: tuple[str, ...],
    out: str | None,
    out_overwrite: bool | None,
    formats: str | None,
    workers: int | None,
    timeout: float | None,
    notebook_timeout: float | None,
    cache_dir: str | None,
    fork_kernels: bool | None,
    render_processes: int | str | None,
    cluster: str | None,
    cluster_shared_fs: bool | None,
    no_wait: bool,
    force: bool,
    retry_failed: bool,
    strict: bool | None,
    no_cache: bool,
    report_path: str | None,
    quiet: bool,
) -> None:
    """Execute every notebook of COURSE once and render every format from it.

    With PATHS (lecture files or folders of the course), build only those."""
    from nbbuild.kernels import head_start

    settings = _settings_or_exit(
        course, out=out, out_overwrite=out_overwrite, formats=formats, workers=workers,
        timeout=timeout, notebook_timeout=notebook_timeout, cache_dir=cache_dir,
        fork_kernels=fork_kernels, cluster=cluster, cluster_shared_fs=cluster_shared_fs,
        strict=strict, render_processes=render_processes)
    if settings.fork_kernels and not settings.cluster:
        head_start.begin()  # imports ipykernel while nbbuild imports its pipeline
    try:
        from nbbuild.errors import BuildInterrupted, NbbuildError
        from nbbuild.pipeline.build import build as run_build

        selected = _course_paths(settings.course, paths) if paths else None
        reporter = _reporter(quiet)
        try:
            result = run_build(
                settings, reporter, wait=not no_wait, force=force, use_cache=not no_cache,
                retry_failed=retry_failed, paths=selected)
        except BuildInterrupted as exc:
            _stop_live(reporter)
            _fail(str(exc), EXIT_INTERRUPTED)
        except NbbuildError as exc:  # settings, course layout, output folder
            _stop_live(reporter)
            _fail(str(exc), EXIT_USAGE)
    finally:
        head_start.discard()
    if report_path:
        _write_report(Path(report_path), result, settings)
    if result.strict and result.broken_links:
        click.echo(f"nbbuild: {len(result.broken_links)} broken link(s); the build fails "
                   "(strict)", err=True)
    _exit_soon(EXIT_OK if result.ok else EXIT_NOTEBOOKS_FAILED)


def _exit_soon(code: int) -> None:
    """Exit without the interpreter's last garbage collection walking every object
    nbconvert, IPython and Jinja left (≈ 0.2 s after a build, measured): frozen, they
    are skipped. Modules are still torn down and atexit handlers run; the build has
    closed its files, kernels and store itself."""
    import gc

    gc.freeze()
    sys.exit(code)


def _course_paths(course: Path, paths: tuple[str, ...]) -> list:
    from nbbuild.pipeline.selection import course_paths

    try:
        return course_paths(course, paths)
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)


def _write_report(path: Path, result, settings) -> None:
    from nbbuild.report.json_report import build_report, write_report

    report = result.report or build_report(result, course=settings.course,
                                           workers=settings.workers)
    write_report(path, report)


@main.command()
@build_options
@click.option("--serve", is_flag=True, help="Serve the outputs, with pages that reload.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True,
              help="Port to serve on (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the index in a browser.")
@click.option("--poll", is_flag=True,
              help="Poll for changes (network and container file systems).")
@click.option("--debounce", type=click.FloatRange(min=0), default=0.2, show_default=True,
              help="Seconds of quiet after an edit before rebuilding.")
def watch(
    course: str,
    out: str | None,
    out_overwrite: bool | None,
    formats: str | None,
    workers: int | None,
    timeout: float | None,
    notebook_timeout: float | None,
    cache_dir: str | None,
    fork_kernels: bool | None,
    render_processes: int | str | None,
    serve: bool,
    host: str,
    port: int,
    open_browser: bool,
    poll: bool,
    debounce: float,
) -> None:
    """Build COURSE, then rebuild what each edit touches until Ctrl-C."""
    import asyncio

    from nbbuild.errors import ConfigError
    from nbbuild.platforms import loop_factory
    from nbbuild.report.progress import PlainReporter
    from nbbuild.watch.loop import Watcher

    overrides = dict(out=out, out_overwrite=out_overwrite, formats=formats, workers=workers,
                     timeout=timeout, notebook_timeout=notebook_timeout, cache_dir=cache_dir,
                     fork_kernels=fork_kernels, render_processes=render_processes)
    reporter = PlainReporter()
    try:
        watcher = Watcher(Path(course), overrides, reporter, debounce=debounce, poll=poll)
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE)
    server = _serve(watcher, host, port, open_browser) if serve else None
    click.echo(f"watching {watcher.course} (Ctrl-C to stop)")
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(watcher.run())
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.close()
    click.echo("stopped watching; no kernel left running")


def _serve(watcher, host: str, port: int, open_browser: bool):
    """Start the preview server on the watcher's outputs (a warning off loopback)."""
    from nbbuild.watch.guards import is_loopback
    from nbbuild.watch.server import PreviewServer

    if not is_loopback(host):
        click.echo(f"warning: serving on {host} makes the preview (and the course's "
                   "outputs) readable from other machines", err=True)
    try:
        server = PreviewServer(watcher.settings.out, host, port).start()
    except OSError as exc:
        _fail(f"cannot serve on {host}:{port}: {exc.strerror}", EXIT_USAGE)
    watcher.listeners.append(server.notebook_done)
    watcher.after_build.append(server.index_written)
    click.echo(f"serving {watcher.settings.out} at {server.url}")
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    return server


@main.command()
@click.argument("course", type=click.Path(exists=True, file_okay=False), default=".")
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Output folder [COURSE/_build].")
@click.option("-f", "--formats", help="Comma-separated formats, as for build.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="The course's store.")
@click.option("--force", is_flag=True, help="Plan as `build --force` would.")
@click.option("--retry-failed", is_flag=True, help="Plan as `build --retry-failed` would.")
@click.option("--explain", is_flag=True,
              help="Say why each notebook is stale, and which kernel a setting chose.")
def plan(
    course: str,
    out: str | None,
    formats: str | None,
    cache_dir: str | None,
    force: bool,
    retry_failed: bool,
    explain: bool,
) -> None:
    """What the next build will do with each notebook: up to date, re-render, re-execute."""
    from nbbuild.errors import NbbuildError
    from nbbuild.pipeline.plan import plan_with_notes

    settings = _settings_or_exit(course, out=out, formats=formats, cache_dir=cache_dir)
    try:
        rows, notes = plan_with_notes(settings, force=force, retry_failed=retry_failed,
                                      explain=explain)
    except NbbuildError as exc:  # a damaged store, a clash of sources
        _fail(str(exc), EXIT_USAGE)
    for rel, action, reasons in rows:
        line = f"{action:11} {rel}"
        if explain and reasons:
            line += f"  ({'; '.join(reasons)})"
        click.echo(line)
    for note in notes:
        click.echo(f"note: {note}", err=True)


@main.command()
@click.argument("course", type=click.Path(exists=True, file_okay=False), default=".")
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Output folder [COURSE/_build].")
def clean(course: str, out: str | None) -> None:
    """Remove the files nbbuild wrote for COURSE, and the folders that leaves empty."""
    from nbbuild.errors import NbbuildError
    from nbbuild.render.layout import MARKER
    from nbbuild.render.output_folder import OutputFolder
    from nbbuild.store.lock import BuildLock

    settings = _settings_or_exit(course, out=out)
    if not (settings.out / MARKER).is_file():
        click.echo(f"nothing to remove at {settings.out} (no outputs of nbbuild there)")
        return
    with _locked(BuildLock(settings.cache_dir)):
        try:
            with OutputFolder.claim(settings.out, settings.course, wait=False) as folder:
                removed, left = folder.clean()
        except NbbuildError as exc:
            _fail(str(exc), EXIT_USAGE)
    click.echo(f"removed {removed} file(s) nbbuild wrote in {settings.out}")
    if left:
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        click.echo(f"left {len(left)} entr{'y' if len(left) == 1 else 'ies'} nbbuild did not "
                   f"write: {shown}")


@main.command()
@click.argument("course", type=click.Path(exists=True, file_okay=False), default=".")
@click.option("-n", "--last", type=click.IntRange(min=1), default=10, help="How many builds [10].")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="The course's store.")
def report(course: str, last: int, cache_dir: str | None) -> None:
    """The last builds of COURSE, newest first, and how each compares with its kind."""
    from nbbuild.errors import NbbuildError
    from nbbuild.report.history import history_table

    settings = _settings_or_exit(course, cache_dir=cache_dir)
    try:
        lines = history_table(settings, last)
    except NbbuildError as exc:
        _fail(str(exc), EXIT_USAGE)
    click.echo("\n".join(lines))


@main.group()
def cache() -> None:
    """The course's store (COURSE/.nbbuild): run times of earlier builds."""


@cache.command("info")
@click.argument("course", type=click.Path(exists=True, file_okay=False), default=".")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="The course's store.")
def cache_info(course: str, cache_dir: str | None) -> None:
    """Where the store is, its size and schema version, and what it holds."""
    from nbbuild.store.database import store_info

    info = store_info(_settings_or_exit(course, cache_dir=cache_dir).cache_dir)
    for key, value in info.items():
        click.echo(f"{key}: {value}")


@cache.command("clear")
@click.argument("course", type=click.Path(exists=True, file_okay=False), default=".")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="The course's store.")
def cache_clear(course: str, cache_dir: str | None) -> None:
    """Delete the store, even a damaged one. Outputs are not touched."""
    from nbbuild.store.database import clear_store
    from nbbuild.store.lock import BuildLock

    settings = _settings_or_exit(course, cache_dir=cache_dir)
    with _locked(BuildLock(settings.cache_dir)):
        removed = clear_store(settings.cache_dir)
    click.echo(f"removed {len(removed)} file(s) from {settings.cache_dir}")


def _settings_or_exit(course: str, **overrides):
    from nbbuild.config import load_settings
    from nbbuild.errors import ConfigError

    try:
        return load_settings(course, **overrides)
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE)


class _locked:
    """Hold the course's build lock for a maintenance command; refuse if busy."""

    def __init__(self, lock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        from nbbuild.errors import NbbuildError

        try:
            self.lock.acquire(wait=False)
        except NbbuildError as exc:
            _fail(str(exc), EXIT_USAGE)

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _reporter(quiet: bool):
    from nbbuild.report.progress import PlainReporter, RichReporter

    if quiet or not sys.stdout.isatty():
        return PlainReporter(quiet=quiet)
    return RichReporter()


def _stop_live(reporter: object) -> None:
    stop = getattr(reporter, "stop", None)
    if stop is not None:
        stop()


def _fail(message: str, code: int) -> None:
    click.echo(f"nbbuild: {message}", err=True)
    sys.exit(code)
