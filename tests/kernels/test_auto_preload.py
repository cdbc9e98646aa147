"""``preload = "auto"``: the course's imports say what the kernel template imports
once, from a list of modules safe to import before a fork."""

import asyncio
import json

import nbformat
import pytest

from nbbuild import build, load_settings
from nbbuild.config import ConfigError
from nbbuild.kernels.kernel import KernelRequest
from nbbuild.kernels.pool import KernelPool
from nbbuild.kernels.preload import auto_preload, choose, imported_modules

from ..conftest import kernel_processes, write_course, write_notebook


def test_imports_are_read_from_percent_scripts_and_notebook_json(tmp_path):
    script = "# %%\nimport numpy as np, os\nfrom matplotlib import pyplot as plt\n" \
             "# %%\n    import scipy.stats\nimport torch\nprint('import pandas')\n"
    assert imported_modules(script) == {"numpy", "matplotlib", "scipy.stats"}
    nb = write_notebook(tmp_path / "a.ipynb", "import pandas as pd\nimport seaborn",
                        "# from numpy we go on")
    assert imported_modules(nb.read_text()) == {"pandas", "seaborn"}


def test_only_safe_modules_that_several_notebooks_import_are_chosen():
    chosen = choose([{"seaborn", "matplotlib.pyplot", "numpy"}, {"numpy", "matplotlib"},
                     {"matplotlib.pyplot", "sympy"}, {"torch"}, {"torch", "seaborn"}])
    # numpy before matplotlib (SAFE order); pyplot stands for matplotlib; sympy
    # (one notebook) and torch (never safe) are not chosen.
    assert chosen == ("?numpy", "?matplotlib.pyplot", "?seaborn")
    assert choose([{"numpy"}]) == ()
    # Fewer importing notebooks than workers: the template's import would cost
    # every worker more than it saves.
    assert choose([{"numpy"}, {"numpy"}, {"numpy"}], at_least=4) == ()
    assert choose([{"numpy"}] * 4, at_least=4) == ("?numpy",)


def test_auto_preload_reads_each_file_once_and_ignores_other_languages(tmp_path):
    a = tmp_path / "a.py"
    a.write_text("import numpy\n")
    cpp = tmp_path / "b.cpp"
    cpp.write_text("// %%\nimport numpy\n")
    # The same file twice (two languages of one source) counts once.
    assert auto_preload([a, a, cpp]) == ()
    b = tmp_path / "b.py"
    b.write_text("import numpy\n")
    assert auto_preload([a, b, tmp_path / "gone.py"]) == ("?numpy",)


def test_a_setting_other_than_auto_or_a_list_is_refused(tmp_path):
    write_course(tmp_path / "c", 'preload = "numpy"\n', {})
    with pytest.raises(ConfigError, match='preload must be "auto" or a list'):
        load_settings(tmp_path / "c")
    write_course(tmp_path / "d", "", {})
    assert load_settings(tmp_path / "d").preload == "auto"


PROBE = "import sys\nprint(json.dumps({'numpy': 'numpy' in sys.modules}))"


def _course(root, preload: str | None):
    settings = f"preload = {preload}\n" if preload is not None else ""
    write_course(root, settings, {})
    for name in ("one", "two", "three"):
        write_notebook(root / f"{name}.ipynb", "import json", PROBE, "import numpy\nprint(1)")
    return root


def _seen(course):
    seen = {}
    for name in ("one", "two", "three"):
        nb = nbformat.read(course / "_build" / f"{name}.ipynb", as_version=4)
        seen[name] = json.loads(nb.cells[1].outputs[0].text)["numpy"]
    return seen


@pytest.mark.integration
def test_a_build_preloads_what_its_notebooks_share_by_default(tmp_path, private_tmp):
    course = _course(tmp_path / "course", None)
    result = build(load_settings(course, workers=2, fork_kernels=True))
    assert result.ok, [str(r.error) for r in result.results if r.error]
    assert result.preload == ("numpy",)
    # Before its own import, each forked kernel already has numpy.
    assert _seen(course) == {"one": True, "two": True, "three": True}
    assert kernel_processes(private_tmp) == []


@pytest.mark.integration
def test_an_empty_preload_list_turns_it_off(tmp_path, private_tmp):
    course = _course(tmp_path / "course", "[]")
    result = build(load_settings(course, workers=2, fork_kernels=True))
    assert result.ok and result.forked
    assert result.preload == ()
    assert _seen(course) == {"one": False, "two": False, "three": False}


@pytest.mark.integration
def test_a_guess_that_is_not_installed_is_skipped_without_a_warning(tmp_path, private_tmp):
    async def main():
        async with KernelPool(spares=1, preload=("?no_such_module_nbbuild", "?json")) as pool:
            kernel = await pool.take(KernelRequest("python3", tmp_path))
            assert kernel.km.provisioner.forked
            pool.discard(kernel)
            return pool.problems, pool.preloaded

    problems, preloaded = asyncio.run(main())
    assert problems == [] and preloaded == ("json",)
    assert kernel_processes(private_tmp) == []
