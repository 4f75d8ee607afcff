"""How a served repository may be reached: hosts, token, CORS and size limits.

The defaults are the safe ones: loopback only, a random token for writes, no public reads,
no CORS, bounded request bodies. Every field can also come from the environment with the
``MODELSYNC_`` prefix (``MODELSYNC_TOKEN``, ``MODELSYNC_PUBLIC_READ=1``,
``MODELSYNC_ALLOWED_HOSTS='["models.example.org"]'``); arguments win over the environment.
"""

from __future__ import annotations

import secrets

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")


def generate_token() -> str:
    return secrets.token_urlsafe(32)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELSYNC_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="address the server binds")
    allowed_hosts: tuple[str, ...] = Field(
        default=(),
        description="extra Host header names accepted besides loopback and the bound address; "
        "'*' accepts any (turns the DNS-rebinding guard off)",
    )
    token: SecretStr = Field(
        default_factory=lambda: SecretStr(generate_token()),
        description="bearer token required by every write (and by reads unless public_read)",
    )
    public_read: bool = Field(default=False, description="serve reads without a token")
    cors_origins: tuple[str, ...] = Field(default=(), description="origins allowed by CORS")
    max_upload_bytes: int = Field(default=1 << 30, gt=0, description="largest file /add accepts")
    max_body_bytes: int = Field(
        default=1 << 20, gt=0, description="largest request body any other endpoint accepts"
    )

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _as_tuple(cls, value: object) -> object:
        if isinstance(value, str):
            return (value,)
        return value

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("the token must be at least 16 characters long")
        return value

    def host_allow_list(self) -> frozenset[str]:
        """Lower-case host names (no port) that the Host header may carry."""
        names = {*LOOPBACK_HOSTS, *(h.lower() for h in self.allowed_hosts)}
        if self.host not in WILDCARD_BINDS:
            names.add(self.host.lower().strip("[]"))
        return frozenset(names)
