"""``.modelsync/config.toml``: who commits, and how the repository behaves. Validated on load."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidConfig
from .fileio import atomic_write


class UserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "ModelSync User"
    email: str = "modelsync@localhost"


class CoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lock_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for a ref lock")
    default_branch: str = "main"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: UserConfig = Field(default_factory=UserConfig)
    core: CoreConfig = Field(default_factory=CoreConfig)

    @classmethod
    def load(cls, path: Path) -> Config:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidConfig(f"invalid config {path}: {exc}") from exc
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InvalidConfig(f"invalid config {path}: {where}: {first['msg']}") from exc

    def to_toml(self) -> str:
        lines = []
        for section, model in (("user", self.user), ("core", self.core)):
            lines.append(f"[{section}]")
            for key, value in model.model_dump().items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        atomic_write(path, self.to_toml().encode("utf-8"))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
