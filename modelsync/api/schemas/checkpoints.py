"""Response bodies of the checkpoint endpoints: tensor listings and tensor diffs."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ...model.objects import TensorRecord
from .numbers import JSONNumber


class TensorOut(BaseModel):
    name: str
    dtype: str
    shape: list[int]
    nbytes: int
    device: str
    aliases: list[str] = Field(default_factory=list, description="other places it is tied to")

    @classmethod
    def of(cls, record: TensorRecord, aliases: list[str] | None = None) -> TensorOut:
        return cls(
            name=record.name,
            dtype=record.dtype,
            shape=list(record.shape),
            nbytes=record.nbytes,
            device=record.device,
            aliases=aliases or [],
        )


class PickledValue(BaseModel):
    path: str
    type: str


class TensorListOut(BaseModel):
    commit: str
    manifest: str
    total_bytes: int
    tensors: list[TensorOut]
    pickled: list[PickledValue] = Field(
        description="values stored pickled: never unpickled by the server"
    )


class TensorChangeOut(BaseModel):
    name: str
    status: str = Field(description="unchanged, changed, added or removed")
    old: TensorOut | None
    new: TensorOut | None
    l2: JSONNumber | None = Field(description="L2 norm of new - old")
    relative: JSONNumber | None = Field(description="l2 / L2 norm of old")
    max_abs: JSONNumber | None = Field(description="largest |new - old|")
    note: str


class TensorDiffOut(BaseModel):
    a: str
    b: str
    tensors: list[TensorChangeOut]
