"""Tensor-aware checkpoints: exact round trips, deduplication, work proportional to change."""

from __future__ import annotations

import argparse
import fractions
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from modelsync.checkpoints import (  # noqa: E402
    BranchCommitter,
    CheckpointWriter,
    describe_checkpoint,
    diff_checkpoints,
    load_checkpoint,
    save_checkpoint,
    writer_for,
)
from modelsync.checkpoints.tensors import dtype_from_name  # noqa: E402
from modelsync.errors import UnsafeLoad, UsageError  # noqa: E402
from modelsync.model.objects import FILE_MODE, TreeEntry  # noqa: E402
from modelsync.repo.repository import Repo  # noqa: E402
from modelsync.store import PackBatch  # noqa: E402

STORABLE_DTYPES = sorted(
    name
    for name, value in vars(torch).items()
    if isinstance(value, torch.dtype)
    and not str(value).startswith(("torch.qint", "torch.quint"))
    and name == str(value).removeprefix("torch.")
)


def raw_bytes(tensor: Any) -> bytes:
    """The bytes of a tensor's values, in C order: what "bit for bit" compares."""
    flat = tensor.detach().contiguous().reshape(-1)
    return bytes(flat.view(torch.uint8).numpy()) if flat.numel() else b""


def random_tensor(dtype: Any, shape: tuple[int, ...], seed: int = 0) -> Any:
    generator = torch.Generator().manual_seed(seed)
    count = math.prod(shape) * dtype.itemsize
    data = torch.randint(0, 256, (count,), dtype=torch.uint8, generator=generator)
    return data.view(dtype).reshape(shape)


def assert_same_tensor(loaded: Any, original: Any) -> None:
    assert type(loaded) is type(original)
    assert loaded.dtype == original.dtype
    assert loaded.shape == original.shape
    assert loaded.device.type == "cpu"
    assert raw_bytes(loaded) == raw_bytes(original)


def assert_same_value(loaded: Any, original: Any) -> None:
    """Equal values of the same types all the way down; tensors compared bit for bit."""
    assert type(loaded) is type(original)
    if isinstance(original, torch.Tensor):
        assert_same_tensor(loaded, original)
    elif isinstance(original, dict):
        assert list(loaded) == list(original)
        for key in original:
            assert_same_value(loaded[key], original[key])
    elif isinstance(original, list | tuple):
        assert len(loaded) == len(original)
        for item, expected in zip(loaded, original, strict=True):
            assert_same_value(item, expected)
    elif isinstance(original, float) and math.isnan(original):
        assert math.isnan(loaded)
    else:
        assert loaded == original
        if isinstance(original, float):
            assert math.copysign(1.0, loaded) == math.copysign(1.0, original)


def chunk_ids(repo: Repo, rev: str) -> set[str]:
    info = describe_checkpoint(repo, rev)
    return {oid for record in info.tensors for oid in record.chunks}


def count_submits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every chunk handed to a pack batch (hashed and maybe written)."""
    sizes: list[int] = []
    original = PackBatch.submit

    def submit(self: PackBatch, data: Any, *, planes: int = 1, compress_later: bool = False) -> Any:
        sizes.append(len(data))
        return original(self, data, planes=planes, compress_later=compress_later)

    monkeypatch.setattr(PackBatch, "submit", submit)
    return sizes


class TinyNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.body = torch.nn.Linear(4, 4)
        self.norm = torch.nn.BatchNorm1d(4)
        self.head = torch.nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight


# --------------------------------------------------------------------------- exact round trip
@pytest.mark.parametrize("name", STORABLE_DTYPES)
@pytest.mark.parametrize("copy", [False, True], ids=["sync", "async-copy"])
def test_every_dtype_round_trips_bit_for_bit(repo: Repo, name: str, copy: bool) -> None:
    dtype = dtype_from_name(name)
    state = {
        "matrix": random_tensor(dtype, (3, 5), seed=1),
        "scalar": random_tensor(dtype, (), seed=2),
        "empty": random_tensor(dtype, (0, 4)),
    }
    writer = writer_for(repo)
    commit = writer.commit(writer.capture(state, copy=copy), message=name)
    loaded = load_checkpoint(repo, commit)
    assert list(loaded) == list(state)
    for key, tensor in state.items():
        assert_same_tensor(loaded[key], tensor)


def test_non_contiguous_views_are_stored_contiguous(repo: Repo) -> None:
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    complex_base = torch.randn(3, 2, dtype=torch.complex64)
    state = {
        "transposed": base.t(),
        "strided": base[::2, 1::2],
        "expanded": torch.tensor([1.0, 2.0]).expand(3, 2),
        "conjugated": complex_base.conj(),
        "negated": torch._neg_view(base),
    }
    loaded = load_checkpoint(repo, save_checkpoint(repo, state))
    for key, view in state.items():
        assert loaded[key].is_contiguous()
        assert not loaded[key].is_conj() and not loaded[key].is_neg()
        assert torch.equal(loaded[key], view.resolve_conj().resolve_neg()), key


def test_zero_dim_and_empty_tensors_keep_their_shapes(repo: Repo) -> None:
    state = {
        "zero_dim": torch.tensor(3.5),
        "empty": torch.empty(0),
        "empty_matrix": torch.empty(5, 0, dtype=torch.int64),
        "step": torch.tensor(7, dtype=torch.int64),
    }
    loaded = load_checkpoint(repo, save_checkpoint(repo, state))
    for key, tensor in state.items():
        assert_same_tensor(loaded[key], tensor)


def test_nested_containers_and_plain_values_round_trip_with_their_types(repo: Repo) -> None:
    weights = torch.randn(3)
    state = {
        "state_dict": OrderedDict([("b.weight", weights), ("a.bias", torch.zeros(2))]),
        "optimizer_states": [{"state": {0: {"step": torch.tensor(4.0)}}, "param_groups": []}],
        "betas": (0.9, 0.999),
        "epoch": 3,
        "lr": 1e-3,
        "special": [math.inf, -math.inf, -0.0, math.nan],
        "flags": {True: None, 2: "two", (1, "x"): frozenset({1, 2}), 3.5: {4, 5}},
        "name": "résumé ✓",
        "surrogate": "bad \udcff byte",
        "blob": b"\x00\x01\xff",
        "buffer": bytearray(b"ab"),
        "complex": 1 + 2j,
        "shape": torch.Size([2, 3]),
        "dtype": torch.bfloat16,
        "device": torch.device("cpu"),
        "nothing": None,
    }
    loaded = load_checkpoint(repo, save_checkpoint(repo, state))
    assert_same_value(loaded, state)
    assert list(loaded["state_dict"]) == ["b.weight", "a.bias"]


def test_numpy_values_come_back_as_numpy(repo: Repo) -> None:
    numpy = pytest.importorskip("numpy")
    state = {"mean": numpy.arange(6, dtype=numpy.float32).reshape(2, 3), "seed": numpy.int64(7)}
    loaded = load_checkpoint(repo, save_checkpoint(repo, state))
    assert isinstance(loaded["mean"], numpy.ndarray)
    assert loaded["mean"].dtype == numpy.float32
    assert (loaded["mean"] == state["mean"]).all()
    assert type(loaded["seed"]) is numpy.int64 and loaded["seed"] == 7


def test_module_is_stored_as_its_state_dict(repo: Repo) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    loaded = load_checkpoint(repo, save_checkpoint(repo, model))
    expected = model.state_dict()
    assert list(loaded) == list(expected)
    for key in expected:
        assert_same_tensor(loaded[key], expected[key])
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    fresh.load_state_dict(loaded)


def test_parameters_keep_their_class_and_requires_grad(repo: Repo) -> None:
    state = {
        "trainable": torch.nn.Parameter(torch.randn(2)),
        "frozen": torch.nn.Parameter(torch.randn(2), requires_grad=False),
        "leaf": torch.randn(2).requires_grad_(),
    }
    loaded = load_checkpoint(repo, save_checkpoint(repo, state))
    assert isinstance(loaded["trainable"], torch.nn.Parameter)
    assert loaded["trainable"].requires_grad
    assert isinstance(loaded["frozen"], torch.nn.Parameter)
    assert not loaded["frozen"].requires_grad
    assert not isinstance(loaded["leaf"], torch.nn.Parameter) and loaded["leaf"].requires_grad


def test_tied_weights_are_stored_once_and_restored_tied(repo: Repo) -> None:
    model = TinyNet()
    commit = save_checkpoint(repo, model)
    info = describe_checkpoint(repo, commit)
    assert [t.name for t in info.tensors].count("embed.weight") == 1
    assert "head.weight" not in [t.name for t in info.tensors]
    assert info.aliases == {"embed.weight": ["head.weight"]}
    loaded = load_checkpoint(repo, commit)
    assert loaded["embed.weight"] is loaded["head.weight"]
    fresh = TinyNet()
    fresh.load_state_dict(loaded)
    assert fresh.head.weight is fresh.embed.weight
    assert torch.equal(fresh.head.weight, model.embed.weight)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tensors_on_a_gpu_are_stored_from_the_cpu_and_can_go_back(repo: Repo) -> None:
    state = {"weight": torch.randn(4, 4, device="cuda"), "cpu": torch.arange(3)}
    commit = save_checkpoint(repo, state)
    info = describe_checkpoint(repo, commit)
    assert {t.name: t.device for t in info.tensors} == {"weight": "cuda:0", "cpu": "cpu"}
    on_cpu = load_checkpoint(repo, commit)
    assert on_cpu["weight"].device.type == "cpu"
    assert torch.equal(on_cpu["weight"], state["weight"].cpu())
    back = load_checkpoint(repo, commit, map_location=None)
    assert back["weight"].device.type == "cuda" and back["cpu"].device.type == "cpu"
    assert torch.equal(back["weight"], state["weight"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_async_captures_of_gpu_tensors_copy_what_changed(repo: Repo) -> None:
    model = torch.nn.Linear(256, 256).cuda()
    writer = writer_for(repo)
    first = writer.commit(writer.capture(model))
    expected_first = {k: v.cpu() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.bias.add_(1.0)
    captured_bias = model.bias.detach().cpu()
    snapshot = writer.capture(model)
    assert snapshot.stats.tensors_reused == 1  # the weight: same storage, same version
    with torch.no_grad():
        model.bias.add_(1.0)  # after the capture: must not leak into the snapshot
    second = writer.commit(snapshot)
    assert_same_value(dict(load_checkpoint(repo, first)), expected_first)
    loaded = load_checkpoint(repo, second)
    assert torch.equal(loaded["bias"], captured_bias)
    assert torch.equal(loaded["weight"], model.weight.detach().cpu())


def test_unsupported_tensors_are_refused_with_their_path(repo: Repo) -> None:
    sparse = torch.eye(3).to_sparse()
    with pytest.raises(UsageError, match=r"sparse_coo tensor at layers/0.*to_dense"):
        save_checkpoint(repo, {"layers": [sparse]})
    with pytest.raises(UsageError, match="meta device"):
        save_checkpoint(repo, {"w": torch.empty(2, device="meta")})
    assert repo.head_commit() is None


# -------------------------------------------------------------------------------- dedup
def test_identical_tensors_are_stored_once_across_commits_and_branches(repo: Repo) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(64, 64)
    first = save_checkpoint(repo, model, branch="runs/a")
    before = set(repo.store.iter_ids())
    # a fresh process's writer: no memory of what was stored
    other = CheckpointWriter(repo.store, BranchCommitter(repo))
    second = other.save(model, branch="runs/b")
    added = set(repo.store.iter_ids()) - before
    assert chunk_ids(repo, first) == chunk_ids(repo, second)
    # Same tensors, same manifest, same tree: only the commit itself is new.
    assert added == {second}


def test_only_changed_chunks_of_a_changed_tensor_are_added(repo: Repo) -> None:
    writer = CheckpointWriter(repo.store, BranchCommitter(repo), chunk_size=1024)
    weights = torch.zeros(4096)  # 16 chunks of 1 KiB
    first = writer.save({"w": weights})
    with torch.no_grad():
        weights[300] = 1.0
    second = writer.save({"w": weights})
    old, new = chunk_ids(repo, first), chunk_ids(repo, second)
    assert len(old) == 1  # sixteen identical chunks of zeros: stored once
    assert len(new - old) == 1
    assert len(describe_checkpoint(repo, second).tensors[0].chunks) == 16


def test_unchanged_tensors_are_neither_copied_nor_hashed_again(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted = count_submits(monkeypatch)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.Linear(32, 2))
    writer = writer_for(repo)
    save_checkpoint(repo, model)
    assert len(submitted) == 4
    submitted.clear()
    snapshot = writer.capture(model)
    assert snapshot.stats.tensors_reused == 4 and snapshot.stats.bytes_copied == 0
    writer.commit(snapshot)
    assert submitted == []
    with torch.no_grad():
        model[1].bias.add_(1.0)
    snapshot = writer.capture(model)
    assert snapshot.stats.tensors_reused == 3
    assert snapshot.stats.bytes_copied == 2 * 4
    commit = writer.commit(snapshot)
    assert submitted == [2 * 4]
    assert torch.equal(load_checkpoint(repo, commit)["1.bias"], model[1].bias.detach())


def test_reuse_false_hashes_everything_again(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    submitted = count_submits(monkeypatch)
    model = torch.nn.Linear(8, 8)
    save_checkpoint(repo, model)
    submitted.clear()
    writer = writer_for(repo)
    writer.commit(writer.capture(model, reuse=False))
    assert sorted(submitted) == [8 * 4, 8 * 8 * 4]


def test_a_snapshot_is_a_copy_training_may_change_at_once(repo: Repo) -> None:
    model = torch.nn.Linear(4, 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    writer = writer_for(repo)
    snapshot = writer.capture(model)
    with torch.no_grad():
        model.weight.mul_(3.0)
    loaded = load_checkpoint(repo, writer.commit(snapshot))
    assert all(torch.equal(loaded[k], before[k]) for k in before)


def test_async_captures_copy_into_the_buffers_of_the_last_written_snapshot(repo: Repo) -> None:
    model = torch.nn.Linear(64, 64)
    writer = writer_for(repo)
    first = writer.capture(model)
    first_buffers = {p.data.data_ptr() for p in first.tensors if p.data is not None}
    first_commit = writer.commit(first)
    expected_first = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    with torch.no_grad():
        model.weight.add_(1.0)
        model.bias.add_(1.0)
    second = writer.capture(model)
    assert {p.data.data_ptr() for p in second.tensors if p.data is not None} == first_buffers
    second_commit = writer.commit(second)
    assert_same_value(load_checkpoint(repo, first_commit), expected_first)
    assert_same_value(load_checkpoint(repo, second_commit), model.state_dict())


def test_a_synchronous_save_never_lends_the_callers_tensors_as_buffers(repo: Repo) -> None:
    kept = torch.nn.Linear(8, 8)
    before = OrderedDict((k, v.clone()) for k, v in kept.state_dict().items())
    writer = writer_for(repo)
    writer.save(kept)
    other = torch.nn.Linear(8, 8)
    writer.commit(writer.capture(other))
    writer.commit(writer.capture(torch.nn.Linear(8, 8)))
    assert_same_value(kept.state_dict(), before)


def test_a_snapshot_never_written_is_not_reused(repo: Repo) -> None:
    model = torch.nn.Linear(4, 4)
    writer = writer_for(repo)
    writer.capture(model)  # dropped, e.g. its write failed
    snapshot = writer.capture(model)
    assert snapshot.stats.tensors_reused == 0
    loaded = load_checkpoint(repo, writer.commit(snapshot))
    assert torch.equal(loaded["weight"], model.weight.detach())


def test_save_async_commits_snapshots_in_order(repo: Repo) -> None:
    model = torch.nn.Linear(4, 4)
    writer = writer_for(repo)
    futures = []
    for epoch in range(3):
        futures.append(writer.save_async({"epoch": epoch, "state_dict": model.state_dict()}))
        with torch.no_grad():
            model.weight.add_(1.0)
    commits = [future.result() for future in futures]
    assert [c for c, _ in repo.log()][::-1] == commits
    assert [load_checkpoint(repo, c)["epoch"] for c in commits] == [0, 1, 2]
    assert repo.read_commit(commits[2]).meta["epoch"] == 2


# ---------------------------------------------------------------------------- commits
def test_checkpoint_commit_keeps_the_branch_files(repo: Repo) -> None:
    params = repo.store.put(b'{"lr": 0.1}')
    tree = repo.write_tree({"params.json": TreeEntry("blob", params, 11, FILE_MODE)})
    repo.commit_tree(tree, "params", ref="refs/heads/runs/exp", meta={"run": "exp"})
    commit = save_checkpoint(
        repo,
        {"epoch": 2, "global_step": 40, "state_dict": {"w": torch.ones(2)}},
        branch="runs/exp",
        meta={"run": "exp"},
    )
    files = repo.flatten_tree(repo.read_commit(commit).tree)
    assert set(files) == {"params.json", "checkpoint"}
    assert files["checkpoint"].kind == "checkpoint"
    assert files["checkpoint"].size == 8
    meta = repo.read_commit(commit).meta
    assert meta == {"kind": "checkpoint", "epoch": 2, "step": 40, "run": "exp"}
    assert repo.read_commit(commit).message == "checkpoint (epoch 2, step 40)"
    assert repo.branch_head("runs/exp") == commit


def test_save_checkpoint_commits_onto_the_current_branch_by_default(repo: Repo) -> None:
    first = save_checkpoint(repo, {"w": torch.ones(1)}, "one")
    second = save_checkpoint(repo, {"w": torch.zeros(1)}, "two")
    assert repo.head_branch() == "main"
    assert repo.head_commit() == second
    assert repo.read_commit(second).parents == (first,)


def test_a_plain_commit_after_a_checkpoint_keeps_the_checkpoint(repo: Repo) -> None:
    saved = save_checkpoint(repo, {"w": torch.ones(3)}, "weights")
    Path("notes.txt").write_text("what changed")
    repo.add(["notes.txt"])
    repo.commit("notes")
    files = repo.flatten_tree(repo.read_commit(repo.resolve("HEAD")).tree)
    assert set(files) == {"checkpoint", "notes.txt"}
    assert files["checkpoint"] == repo.flatten_tree(repo.read_commit(saved).tree)["checkpoint"]
    assert torch.equal(load_checkpoint(repo, "HEAD")["w"], torch.ones(3))


def test_fsck_walks_tensor_chunks_and_gc_keeps_them(repo: Repo) -> None:
    commit = save_checkpoint(repo, {"w": torch.randn(100)}, branch="runs/keep")
    chunks = chunk_ids(repo, commit)
    assert chunks <= repo.reachable()
    assert repo.fsck().ok
    repo.gc(grace=0)
    assert all(repo.store.has(oid) for oid in chunks)
    repo.delete_branch("runs/keep", force=True)
    repo.gc(grace=0)
    assert not any(repo.store.has(oid) for oid in chunks)


# ------------------------------------------------------------------------------- diff
def test_diff_reports_each_tensor_and_how_much_it_moved(repo: Repo) -> None:
    old = {"same": torch.ones(3), "moved": torch.tensor([3.0, 4.0]), "gone": torch.zeros(1)}
    new = {"same": torch.ones(3), "moved": torch.tensor([3.0, 7.0]), "born": torch.zeros(2)}
    a, b = save_checkpoint(repo, old), save_checkpoint(repo, new)
    changes = {c.name: c for c in diff_checkpoints(repo, a, b)}
    assert {name: c.status for name, c in changes.items()} == {
        "same": "unchanged",
        "moved": "changed",
        "gone": "removed",
        "born": "added",
    }
    moved = changes["moved"]
    assert moved.l2 == pytest.approx(3.0)
    assert moved.relative == pytest.approx(3.0 / 5.0)
    assert moved.max_abs == pytest.approx(3.0)


def test_diff_names_shape_and_dtype_changes(repo: Repo) -> None:
    a = save_checkpoint(repo, {"w": torch.ones(2), "b": torch.ones(2)})
    b = save_checkpoint(repo, {"w": torch.ones(3), "b": torch.ones(2, dtype=torch.float64) * 2})
    changes = {c.name: c for c in diff_checkpoints(repo, a, b)}
    assert changes["w"].status == "changed" and changes["w"].l2 is None
    assert changes["w"].note == "shape [2] -> [3]"
    assert changes["b"].note == "dtype float32 -> float64"
    assert changes["b"].max_abs == pytest.approx(1.0)


def test_describe_lists_tensors_without_loading_them(repo: Repo) -> None:
    commit = save_checkpoint(repo, {"state_dict": {"w": torch.zeros(2, 3, dtype=torch.bfloat16)}})
    info = describe_checkpoint(repo, commit)
    (record,) = info.tensors
    assert (record.name, record.dtype, record.shape, record.nbytes) == (
        "state_dict/w",
        "bfloat16",
        (2, 3),
        12,
    )
    assert info.nbytes == 12 and info.commit == commit


def test_a_commit_without_checkpoint_is_a_clear_error(repo: Repo) -> None:
    tree = repo.write_tree({})
    commit = repo.commit_tree(tree, "empty", ref="refs/heads/main")
    with pytest.raises(UsageError, match="holds no checkpoint"):
        load_checkpoint(repo, commit)


# --------------------------------------------------------------------------- pickles
def test_values_that_need_pickle_load_only_when_trusted(repo: Repo) -> None:
    state = {"hyper_parameters": {"ratio": fractions.Fraction(1, 3)}, "w": torch.ones(1)}
    commit = save_checkpoint(repo, state)
    with pytest.raises(UnsafeLoad, match=r"fractions\.Fraction at hyper_parameters/ratio"):
        load_checkpoint(repo, commit)
    assert describe_checkpoint(repo, commit).pickled == [
        ("hyper_parameters/ratio", "fractions.Fraction")
    ]
    loaded = load_checkpoint(repo, commit, trusted=True)
    assert loaded["hyper_parameters"]["ratio"] == fractions.Fraction(1, 3)


def test_common_hyper_parameter_types_load_without_pickle(repo: Repo) -> None:
    state = {
        "hyper_parameters": {
            "args": argparse.Namespace(lr=0.1, layers=[2, 3], data=Path("data/train")),
            "root": Path("/data/imagenet"),
        }
    }
    commit = save_checkpoint(repo, state)
    assert describe_checkpoint(repo, commit).pickled == []
    loaded = load_checkpoint(repo, commit)
    assert loaded == state
    assert type(loaded["hyper_parameters"]["args"]) is argparse.Namespace


def test_unpicklable_values_are_refused_at_save(repo: Repo) -> None:
    with pytest.raises(UsageError, match=r"cannot store the builtins\.function at callback"):
        save_checkpoint(repo, {"callback": lambda: None})
