import io
from pathlib import Path, PurePosixPath

from nbbuild.errors import CellError, SourceError
from nbbuild.model import BuildResult, NotebookResult, Source, SourceKind, Status
from nbbuild.report.progress import PlainReporter, RichReporter, describe_failure


def _src(rel):
    return Source(path=Path(rel), rel=PurePosixPath(rel), kind=SourceKind.IPYNB)


def _results():
    ok = NotebookResult(_src("a.ipynb"), Status.BUILT, seconds=1.25)
    bad = NotebookResult(_src("b.py"), Status.FAILED, error=CellError(
        "b.py", "cell 3, line 10 of the file raised KeyError: 'x'", cell=3, line=10,
        ename="KeyError", traceback="Traceback...\nKeyError: 'x'"))
    err = NotebookResult(_src("c.ipynb"), Status.ERRORED,
                         error=SourceError("c.ipynb", "not valid JSON"))
    return [ok, bad, err]


def test_plain_reporter_lines_and_summary():
    stream = io.StringIO()
    rep = PlainReporter(stream)
    rep.build_started(3, 2)
    for r in _results():
        rep.notebook_finished(r)
    rep.build_finished(BuildResult(_results(), 2.0, Path("out")))
    text = stream.getvalue()
    assert "building 3 notebooks with 2 workers" in text
    assert "[1/3] built a.ipynb (1.2 s)" in text
    assert "FAILED b.py: cell 3, line 10 of the file raised KeyError" in text
    assert "    KeyError: 'x'" in text
    assert "ERRORED c.ipynb: not valid JSON" in text
    assert "3 notebooks: 1 built (1 executed, 0 re-rendered, 0 up to date), 1 failed, 1 errored in 2.0 s" in text


def test_quiet_prints_failures_only():
    stream = io.StringIO()
    rep = PlainReporter(stream, quiet=True)
    rep.build_started(3, 2)
    for r in _results():
        rep.notebook_finished(r)
    rep.build_finished(BuildResult(_results(), 2.0, Path("out")))
    text = stream.getvalue()
    assert "built a.ipynb" not in text and "building" not in text
    assert "FAILED b.py" in text and "ERRORED c.ipynb" in text


def test_long_tracebacks_are_trimmed_to_their_end():
    r = _results()[1]
    r.error.traceback = "\n".join(f"line {i}" for i in range(100))
    text = describe_failure(r, traceback_lines=5)
    assert "line 99" in text and "line 10\n" not in text and "..." in text


def test_rich_reporter_shows_running_notebooks_and_summary():
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    rep = RichReporter(console)
    rep.build_started(3, 2)
    rep.notebook_started(_src("a.ipynb"))
    rendered = Console(file=io.StringIO(), width=100)
    rendered.print(rep)
    assert "a.ipynb" in rendered.file.getvalue() and "0/3" in rendered.file.getvalue()
    for r in _results():
        rep.notebook_finished(r)
    rep.build_finished(BuildResult(_results(), 2.0, Path("out")))
    assert "3 notebooks: 1 built" in console.file.getvalue()
