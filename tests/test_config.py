from pathlib import Path

import pytest

from nbbuild.config import DEFAULT_FORMATS, DEFAULT_TIMEOUT, load_settings
from nbbuild.errors import ConfigError


def test_defaults_without_a_course_file(tmp_path):
    s = load_settings(tmp_path)
    assert s.course == tmp_path.resolve()
    assert s.out == tmp_path.resolve() / "_build"
    assert s.cache_dir == tmp_path.resolve() / ".nbbuild"
    assert s.formats == DEFAULT_FORMATS
    assert s.timeout == DEFAULT_TIMEOUT
    assert s.workers >= 1
    assert s.config_file is None


def test_nbbuild_toml_is_read_and_command_line_wins(tmp_path):
    (tmp_path / "nbbuild.toml").write_text(
        'out = "site"\nformats = ["html"]\nworkers = 3\ntimeout = 10\n'
        'exclude = ["drafts/**"]\nallow_errors = ["demo.ipynb"]\ncache_dir = "state"\n'
    )
    s = load_settings(tmp_path)
    assert (s.out, s.formats, s.workers, s.timeout) == (tmp_path / "site", ("html",), 3, 10)
    assert s.exclude == ("drafts/**",) and s.allow_errors == ("demo.ipynb",)
    assert s.cache_dir == tmp_path / "state"
    s = load_settings(tmp_path, workers=1, formats="slides,notebook", out=str(tmp_path / "o"))
    assert (s.workers, s.formats, s.out) == (1, ("slides", "notebook"), tmp_path / "o")
    assert s.timeout == 10  # not overridden: None values are ignored


def test_tool_nbbuild_in_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname="c"\n[tool.nbbuild]\nworkers = 2\n')
    s = load_settings(tmp_path)
    assert s.workers == 2 and s.config_file == tmp_path / "pyproject.toml"


def test_nbbuild_toml_takes_precedence_over_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.nbbuild]\nworkers = 2\n")
    (tmp_path / "nbbuild.toml").write_text("workers = 5\n")
    assert load_settings(tmp_path).workers == 5


@pytest.mark.parametrize(
    "text, message",
    [
        ("wokers = 2\n", "unknown setting 'wokers'"),
        ('workers = "four"\n', "'workers' has the wrong type"),
        ("workers = 0\n", "at least 1"),
        ('formats = ["pdf"]\n', "unknown format pdf"),
        ("timeout = -1\n", "positive"),
        ("workers = [\n", "not valid TOML"),
        ("exclude = [1]\n", "list of glob strings"),
        ('editions = ["teacher"]\n', "unknown edition teacher; choose from completed"),
        ('languages = ["en/x"]\n', "not a language code: en/x"),
        ('layout = "{lang}/{year}"\n', "only {lang}, {edition} and {format}"),
        ('layout = "../{format}"\n', "must be a relative folder path"),
    ],
)
def test_bad_settings_name_the_file_and_the_problem(tmp_path, text, message):
    (tmp_path / "nbbuild.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert message in str(info.value)
    assert "nbbuild.toml" in str(info.value)


def test_missing_course_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a folder"):
        load_settings(tmp_path / "nope")


def test_settings_are_frozen(tmp_path):
    s = load_settings(tmp_path)
    with pytest.raises(AttributeError):
        s.workers = 9  # type: ignore[misc]
    assert isinstance(s.out, Path)


def test_editions_and_languages_add_the_code_format_unless_formats_are_given(tmp_path):
    (tmp_path / "nbbuild.toml").write_text('languages = ["en", "de"]\n')
    settings = load_settings(tmp_path)
    assert settings.variants and settings.edition_names == ("completed",)
    assert settings.formats == ("html", "slides", "notebook", "code")
    assert load_settings(tmp_path, formats="html").formats == ("html",)
    (tmp_path / "nbbuild.toml").write_text("workers = 2\n")
    plain = load_settings(tmp_path)
    assert not plain.variants and plain.formats == ("html", "slides", "notebook")
