"""The persistent compilation cache: where it lives, how it is turned off, and that a failure to
set it up never stops a run. (That a run really fills it is checked by the kill-and-resume test
in test_reliability.py, which runs the CLI in a fresh process with the cache on.)"""

import tomllib
from importlib import resources
from pathlib import Path

from jaxrl_suite import cli, compile_cache
from jaxrl_suite.spec import parse_spec


def test_default_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(compile_cache.ENV_VAR, "OFF")
    assert compile_cache.default_directory() is None
    monkeypatch.setenv(compile_cache.ENV_VAR, str(tmp_path / "mine"))
    assert compile_cache.default_directory() == tmp_path / "mine"
    monkeypatch.delenv(compile_cache.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.default_directory() == tmp_path / "xdg" / "jaxrl_suite" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert compile_cache.default_directory() == tmp_path / "home" / ".cache" / "jaxrl_suite" / "jax"


def test_an_unusable_cache_folder_is_a_note_not_an_error(capsys):
    # /dev/null is a file, so no folder can be made under it (as root too).
    assert compile_cache.enable(Path("/dev/null/cache")) is None
    assert "compilation cache off (/dev/null/cache" in capsys.readouterr().err


def test_the_flag_turns_the_cache_off_for_one_command(monkeypatch):
    calls = []
    monkeypatch.setattr(compile_cache, "enable", lambda directory=None: calls.append(directory))
    parser = cli.build_parser()
    raw = tomllib.loads(resources.files("jaxrl_suite.studies").joinpath(cli.QUICKSTART).read_text())
    spec = parse_spec(raw)
    cli._as_requested(spec, parser.parse_args(["run", "--no-compile-cache"]))
    assert calls == []
    cli._as_requested(spec, parser.parse_args(["run"]))
    assert calls == [None]
