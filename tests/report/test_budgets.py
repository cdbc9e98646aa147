import io

import pytest

from nbbuild import build, load_settings
from nbbuild.errors import BudgetError
from nbbuild.model import Status
from nbbuild.report.budgets import Budget, check
from nbbuild.report.progress import PlainReporter

from ..conftest import write_notebook


def test_check_warns_from_80_percent_and_fails_only_when_strict():
    assert check(None, 99, "a") is None
    assert check(Budget(10, False), 7.9, "a") is None
    assert "used 85%" in check(Budget(10, False), 8.5, "a")
    assert "over its time budget: 12.0 s of its 10 s" in check(Budget(10, False), 12, "a")
    with pytest.raises(BudgetError, match="a: over its strict time budget: 12.0 s of its 10 s"):
        check(Budget(10, True), 12, "a")


@pytest.mark.integration
def test_budgets_in_a_build(tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "near.ipynb", "import time; time.sleep(1.7)", nbbuild={"budget": 2})
    write_notebook(course / "over.ipynb", "import time; time.sleep(0.6)")
    write_notebook(course / "strict.ipynb", "import time; time.sleep(0.6)",
                   nbbuild={"budget": 0.3, "budget_strict": True})
    (course / "nbbuild.toml").write_text('[budgets]\n"over*" = 0.3\n')
    stream = io.StringIO()
    result = build(load_settings(course, workers=3), PlainReporter(stream))
    text = stream.getvalue()
    by_name = {str(r.source.rel): r for r in result.results}
    assert "near.ipynb used" in text and "of its 2 s time budget" in text
    assert "over.ipynb is over its time budget" in text
    assert by_name["over.ipynb"].status is Status.BUILT
    assert by_name["strict.ipynb"].status is Status.FAILED
    assert "over its strict time budget" in str(by_name["strict.ipynb"].error)
    page = (course / "_build" / "strict.html").read_text()  # every cell, under the banner
    assert "This lecture failed to build." in page and "over its strict time budget" in page
