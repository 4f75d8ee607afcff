"""``.modelsync/config.toml``: who commits, and how the repository behaves. Validated on load.

Plain dataclasses rather than pydantic models: every command opens the repository, and a
read-only command such as ``modelsync runs`` should not pay pydantic's start-up for four
settings. Each field's type is checked on load; unknown sections and keys are errors.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidConfig
from ..util.fileio import atomic_write


@dataclass
class UserConfig:
    name: str = "ModelSync User"
    email: str = "modelsync@localhost"


@dataclass
class CoreConfig:
    lock_timeout: float = 10.0
    """Seconds to wait for a ref or staging-area lock."""
    default_branch: str = "main"

    def __post_init__(self) -> None:
        if self.lock_timeout <= 0:
            raise ValueError("lock_timeout: must be greater than 0")


@dataclass
class Config:
    user: UserConfig = field(default_factory=UserConfig)
    core: CoreConfig = field(default_factory=CoreConfig)

    @classmethod
    def load(cls, path: Path) -> Config:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidConfig(f"invalid config {path}: {exc}") from exc
        except RecursionError:  # tomllib parses nested arrays and tables recursively
            raise InvalidConfig(f"invalid config {path}: nested too deeply") from None
        try:
            return cls.from_dict(raw)
        except ValueError as exc:
            raise InvalidConfig(f"invalid config {path}: {exc}") from exc

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        """Raises ValueError naming the first ``section.key`` that does not fit."""
        _refuse_unknown(raw, _SECTIONS, "")
        parsed = {}
        for name, section_type in _SECTIONS.items():
            values = raw.get(name, {})
            if not isinstance(values, dict):
                raise ValueError(f"{name}: must be a table")
            parsed[name] = _section(section_type, values, name)
        return cls(**parsed)

    def to_toml(self) -> str:
        lines = []
        for section, values in dataclasses.asdict(self).items():
            lines.append(f"[{section}]")
            for key, value in values.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        atomic_write(path, self.to_toml().encode("utf-8"))


_SECTIONS: dict[str, type[Any]] = {"user": UserConfig, "core": CoreConfig}


def _refuse_unknown(raw: dict[str, Any], known: dict[str, Any], where: str) -> None:
    for key in raw:
        if key not in known:
            raise ValueError(f"{where}{key}: unknown setting")


def _section(section_type: type[Any], values: dict[str, Any], name: str) -> Any:
    types = {f.name: f.type for f in dataclasses.fields(section_type)}
    _refuse_unknown(values, types, f"{name}.")
    for key, value in values.items():
        expected = types[key]
        if expected == "float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            kind = "number" if expected == "float" else "string"
            raise ValueError(f"{name}.{key}: must be a {kind}")
    try:
        return section_type(**values)
    except ValueError as exc:
        raise ValueError(f"{name}.{exc}") from None


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
