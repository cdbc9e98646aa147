"""Languages of one source: the same code runs once; different code never runs
at the same time in the same folder; messages and the report name the language."""

import json

import pytest

from nbbuild import build, load_settings
from nbbuild.model import Status

from ..conftest import kernel_processes, run_nbbuild, write_course

pytestmark = pytest.mark.integration


def _same(log: str) -> str:
    return f'''# %% [markdown] lang="en"
# # Shared code

# %% [markdown] lang="de"
# # Gemeinsamer Code

# %%
import os, time
with open({log!r}, "a") as f:
    f.write(f"same {{os.getpid()}}\\n")
print("ran once")
'''


def _differs(log: str, n: int) -> str:
    return f'''# %% [markdown]
# # Lecture {n}

# %% lang="en"
word = "hello"

# %% lang="de"
word = "hallo"

# %%
import os, time
with open({log!r}, "a") as f:
    f.write(f"start {n} {{time.time()}}\\n")
open("scratch.txt", "w").write(word)  # the same file in both languages
time.sleep(0.4)
assert open("scratch.txt").read() == word, "another run wrote over it"
with open({log!r}, "a") as f:
    f.write(f"end {n} {{time.time()}}\\n")
print(word)
'''


def _course(root, log):
    root.mkdir(parents=True)
    (root / "nbbuild.toml").write_text('languages = ["en", "de"]\n')
    (root / "00-same.py").write_text(_same(str(log)))
    for n in range(1, 4):  # each in a folder of its own: lectures do not share files
        (root / f"0{n}").mkdir()
        (root / f"0{n}" / "differs.py").write_text(_differs(str(log), n))
    return root


def _intervals(log) -> dict[str, list[tuple[float, float]]]:
    found: dict[str, list] = {}
    starts: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        kind, n, *rest = line.split()
        if kind == "start":
            starts.setdefault(n, []).append(float(rest[0]))
        elif kind == "end":
            found.setdefault(n, []).append((starts[n].pop(0), float(rest[0])))
    return found


def test_identical_code_runs_once_and_variants_never_overlap(tmp_path, private_tmp):
    log = tmp_path / "log"
    course = _course(tmp_path / "c", log)
    for _ in range(3):
        result = build(load_settings(course, workers=4), force=True)
        assert result.ok, [str(r.error) for r in result.results if not r.ok]
        assert result.executed == 7  # 1 shared + 3 sources x 2 languages
        shared = {r.source.key: r for r in result.results if r.source.rel.name == "00-same.py"}
        assert sorted(r.action for r in shared.values()) == ["executed", "rendered"]
    assert log.read_text().count("same ") == 3  # once per build
    for n, runs in _intervals(log).items():
        runs.sort()
        assert len(runs) == 6
        for (_, end), (start, _) in zip(runs, runs[1:]):
            assert start >= end, f"both languages of lecture {n} ran at once"
    for lang, word in (("en", "hello"), ("de", "hallo")):
        page = (course / f"_build/{lang}/completed/html/01/differs.html").read_text()
        assert word in page
    page = (course / "_build/de/completed/html/00-same.html").read_text()
    assert "Gemeinsamer Code" in page and "ran once" in page
    assert kernel_processes(private_tmp) == []


def test_a_shared_failure_names_each_language_and_the_report_says_which(tmp_path, private_tmp):
    course = write_course(tmp_path / "c", 'languages = ["en", "de"]\n', {"lecture.py": (
        '# %% [markdown] lang="en"\n# # Title\n\n# %% [markdown] lang="de"\n# # Titel\n\n'
        '# %%\nraise KeyError("missing")\n')})
    proc = run_nbbuild(str(course), "--report", str(tmp_path / "r.json"))
    assert proc.returncode == 1
    assert "FAILED lecture.py [en]: cell 3, line 8 of the file raised KeyError" in proc.stdout
    assert "FAILED lecture.py [de]: cell 3, line 8 of the file raised KeyError" in proc.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    rows = {n["language"]: n for n in report["notebooks"]}
    assert set(rows) == {"en", "de"} and {n["path"] for n in rows.values()} == {"lecture.py"}
    assert all(n["status"] == Status.FAILED.value for n in rows.values())
    assert report["counts"]["executed"] == 1
    for lang, title in (("en", "Title"), ("de", "Titel")):
        page = (course / f"_build/{lang}/completed/html/lecture.html").read_text()
        assert title in page and "KeyError" in page
    de_banner = (course / "_build/de/completed/html/lecture.html").read_text()
    assert "Diese Lektion konnte nicht gebaut werden." in de_banner
