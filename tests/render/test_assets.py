"""The shared web assets: one copy per output folder, left alone by later builds,
and a clear message when the package that ships them is missing."""

from __future__ import annotations

import pytest

from nbbuild import build, load_settings
from nbbuild.render import assets
from nbbuild.site.publish import static_files

from ..conftest import write_notebook

pytestmark = pytest.mark.integration


def test_assets_are_copied_once_per_output_folder_and_not_again(tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "a.ipynb", "1")
    write_notebook(course / "deep" / "er" / "b.ipynb", "2")
    assert build(load_settings(course, workers=2)).ok
    out = course / "_build"
    assert [p.relative_to(out).as_posix() for p in out.rglob("_static")] == ["_static"]
    stamps = {p: p.stat().st_mtime_ns for p in (out / "_static").rglob("*") if p.is_file()}
    assert len(stamps) == len(assets.asset_files()) + len(static_files())  # and the site's
    deck = (out / "deep" / "er" / "b.slides.html").read_text()
    assert 'src="../../_static/reveal/dist/reveal.js"' in deck
    assert build(load_settings(course, workers=2), force=True).ok
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # not copied again


def test_a_missing_asset_package_is_a_message_before_any_work(tmp_path, monkeypatch):
    course = tmp_path / "c"
    write_notebook(course / "a.ipynb", "1")
    real = assets.find_spec
    monkeypatch.setattr(assets, "find_spec",
                        lambda name: None if name == "mathjax" else real(name))
    assets.asset_files.cache_clear()
    try:
        with pytest.raises(assets.MissingAssets, match="django-static-mathjax is not installed"):
            build(load_settings(course, workers=1))
    finally:
        assets.asset_files.cache_clear()
    assert not (course / "_build" / "a.html").exists()
