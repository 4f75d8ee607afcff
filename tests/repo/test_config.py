"""``config.toml``: written by init, read back the same, refused with the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelsync.errors import InvalidConfig
from modelsync.repo.config import Config


def test_saved_config_reads_back_the_same(tmp_path: Path) -> None:
    config = Config()
    config.user.name = 'Ada "the first" Lovelace'
    config.core.lock_timeout = 2.5
    config.save(tmp_path / "config.toml")
    assert Config.load(tmp_path / "config.toml") == config


def test_a_missing_file_gives_the_defaults(tmp_path: Path) -> None:
    assert Config.load(tmp_path / "absent.toml") == Config()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[core]\nlock_timeout = 0\n", "core.lock_timeout: must be greater than 0"),
        ("[core]\nlock_timeout = 'soon'\n", "core.lock_timeout: must be a number"),
        ("[core]\nlock_timeout = true\n", "core.lock_timeout: must be a number"),
        ("[user]\nname = 3\n", "user.name: must be a string"),
        ("[user]\nnickname = 'x'\n", "user.nickname: unknown setting"),
        ("[remote]\nurl = 'x'\n", "remote: unknown setting"),
        ("core = 1\n", "core: must be a table"),
        ("[core\n", "invalid config"),
    ],
)
def test_a_bad_setting_is_refused_by_name(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(InvalidConfig, match=says):
        Config.load(path)


def test_whole_numbers_are_accepted_for_seconds(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[core]\nlock_timeout = 3\n")
    assert Config.load(path).core.lock_timeout == 3
