"""The codec paths tensor chunks take: byte planes, zstd, raw; decoded straight into place."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from modelsync.checkpoints import BranchCommitter, CheckpointWriter, load_checkpoint  # noqa: E402
from modelsync.errors import ObjectCorrupt  # noqa: E402
from modelsync.repo.repository import Repo  # noqa: E402
from modelsync.store import compression, packbatch  # noqa: E402
from modelsync.store.compression import PLANES, RAW, ZSTD, decode, decode_into, encode  # noqa: E402
from modelsync.util.hashing import sha256_hex  # noqa: E402


def chunk_of(dtype: torch.dtype) -> bytes:
    """4 MiB of trained-looking weights: small values, so sign and exponent bytes repeat."""
    values = torch.randn((4 << 20) // dtype.itemsize, generator=torch.Generator().manual_seed(0))
    return bytes((values * 0.02).to(dtype).view(torch.uint8).numpy())


@pytest.mark.parametrize(
    ("dtype", "planes_at_most", "plain_at_least"),
    [(torch.bfloat16, 0.72, 0.75), (torch.float32, 0.87, 0.9)],
)
def test_byte_planes_beat_mixed_bytes_for_floats(
    dtype: torch.dtype, planes_at_most: float, plain_at_least: float
) -> None:
    data = chunk_of(dtype)
    codec, payload = encode(data, dtype.itemsize)
    assert codec == PLANES
    assert len(payload) <= planes_at_most * len(data)
    plain_codec, plain = encode(data, 1)
    assert plain_codec == ZSTD and len(plain) >= plain_at_least * len(data)


@pytest.mark.parametrize("with_numpy", [True, False], ids=["numpy", "pure-python"])
@pytest.mark.parametrize("planes", [1, 2, 4, 8])
def test_every_codec_decodes_into_a_buffer_exactly(
    monkeypatch: pytest.MonkeyPatch, with_numpy: bool, planes: int
) -> None:
    if not with_numpy:
        monkeypatch.setattr(compression, "_numpy", lambda: None)
    noise = torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes()
    codecs = set()
    for data in (chunk_of(torch.float32)[:65536], bytes(4096), noise):
        codec, payload = encode(data, planes)
        codecs.add(codec)
        stored = bytes(payload)
        out = bytearray(len(data))
        decode_into(codec, stored, memoryview(out))
        assert out == data
        assert decode(codec, stored) == data
    assert codecs == {RAW, ZSTD if planes == 1 else PLANES}


def test_decoding_into_a_buffer_of_the_wrong_size_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    data = chunk_of(torch.float32)[:65536]
    for planes in (1, 4):
        codec, payload = encode(data, planes)
        stored = bytes(payload)
        for size in (len(data) - 4, len(data) + 4):
            with pytest.raises(compression.CodecError):
                decode_into(codec, stored, memoryview(bytearray(size)))


def test_read_into_verifies_the_hash(repo: Repo) -> None:
    data = chunk_of(torch.float32)[:8192]
    with repo.store.batch() as batch:
        oid = batch.put(data, planes=4)
    out = bytearray(len(data))
    repo.store.read_into(oid, memoryview(out))
    assert out == data and sha256_hex(out) == oid
    forged = "0" * 64
    (repo.control_dir / "objects" / "00").mkdir(parents=True, exist_ok=True)
    (repo.control_dir / "objects" / "00" / forged[2:]).write_bytes(b"\x00" + data)
    with pytest.raises(ObjectCorrupt):
        repo.store.read_into(forged, memoryview(bytearray(len(data))))


def test_a_pack_flushed_while_written_reads_back_whole(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packbatch, "SYNC_EVERY", 4096)  # flush in the background every few records
    writer = CheckpointWriter(repo.store, BranchCommitter(repo), chunk_size=1024)
    weights = torch.randn(64 * 1024, generator=torch.Generator().manual_seed(3))
    commit = writer.save({"w": weights})
    assert torch.equal(load_checkpoint(repo, commit)["w"], weights)
    assert repo.fsck().ok


def test_an_aborted_batch_leaves_no_pack_even_mid_flush(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packbatch, "SYNC_EVERY", 4096)
    pack_dir = repo.control_dir / "objects" / "pack"
    before = set(pack_dir.iterdir())
    with pytest.raises(RuntimeError, match="stop"), repo.store.batch() as batch:
        for seed in range(16):
            batch.submit(
                torch.randn(2048, generator=torch.Generator().manual_seed(seed)).numpy().data
            )
        batch.wait()
        raise RuntimeError("stop")
    assert set(pack_dir.iterdir()) == before
