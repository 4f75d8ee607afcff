"""Refs: names git would accept, compare-and-swap updates, and lock files."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelsync.errors import InvalidRefName, RefError, RefLocked
from modelsync.model.layout import HEAD
from modelsync.repo.refs import RefContainer, check_ref_name

OID_A = "a" * 64
OID_B = "b" * 64


@pytest.fixture
def refs(tmp_path: Path) -> RefContainer:
    return RefContainer(tmp_path, lock_timeout=0.05)


def swap(refs: RefContainer, name: str, old: str | None, new: str) -> bool:
    """Compare-and-swap as the repository does it: hold the lock, then write only over ``old``
    (None: no ref yet)."""
    with refs.locked(name) as ref:
        if ref.raw != old:
            return False
        ref.set(new)
        return True


@pytest.mark.parametrize(
    "name", ["main", "runs/baseline", "runs/foo@best", "v1.0", "feature/x-y_z"]
)
def test_valid_names_pass(name: str) -> None:
    assert check_ref_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "@",
        "has space",
        "a..b",
        "a//b",
        "-x",
        "/x",
        "x/",
        "x.",
        "x.lock",
        "a/.hidden",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a\\b",
        "x@{1}",
    ],
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidRefName):
        check_ref_name(name)


def test_a_locked_ref_swaps_only_from_the_value_it_holds(refs: RefContainer) -> None:
    assert swap(refs, "refs/heads/main", None, OID_A)
    assert not swap(refs, "refs/heads/main", None, OID_B)
    assert not swap(refs, "refs/heads/main", OID_B, OID_A)
    assert swap(refs, "refs/heads/main", OID_A, OID_B)
    assert refs.resolve("refs/heads/main") == OID_B


def test_symbolic_head_follows_its_branch(refs: RefContainer) -> None:
    refs.set_symbolic(HEAD, "refs/heads/main")
    assert refs.resolve(HEAD) is None
    swap(refs, HEAD, None, OID_A)
    assert refs.read_raw("refs/heads/main") == OID_A
    assert refs.resolve(HEAD) == OID_A
    refs.detach(HEAD, OID_B)
    assert refs.symbolic_target(HEAD) is None
    assert refs.resolve(HEAD) == OID_B


def test_remove_if_equals_deletes_and_prunes_empty_directories(refs: RefContainer) -> None:
    swap(refs, "refs/heads/runs/deep/name", None, OID_A)
    assert not refs.remove_if_equals("refs/heads/runs/deep/name", OID_B)
    assert refs.remove_if_equals("refs/heads/runs/deep/name", OID_A)
    assert not (refs.root / "refs/heads/runs").exists()


def test_keys_and_items_skip_lock_files(refs: RefContainer) -> None:
    swap(refs, "refs/heads/main", None, OID_A)
    (refs.root / "refs/heads/other.lock").write_text(OID_B)
    assert refs.keys("refs/heads/") == ["refs/heads/main"]
    assert refs.items("refs/heads/") == {"refs/heads/main": OID_A}


def test_a_stale_lock_file_makes_updates_fail_without_writing(refs: RefContainer) -> None:
    swap(refs, "refs/heads/main", None, OID_A)
    (refs.root / "refs/heads/main.lock").write_text("12345")
    with pytest.raises(RefLocked, match=r"main\.lock"):
        swap(refs, "refs/heads/main", OID_A, OID_B)
    assert refs.resolve("refs/heads/main") == OID_A


def test_locked_ref_holds_the_lock_while_the_caller_works(refs: RefContainer) -> None:
    with refs.locked("refs/heads/main") as ref:
        assert ref.oid is None
        with pytest.raises(RefLocked):
            swap(refs, "refs/heads/main", None, OID_B)
        ref.set(OID_A)
    assert refs.resolve("refs/heads/main") == OID_A
    assert not (refs.root / "refs/heads/main.lock").exists()


def test_a_ref_holding_garbage_is_an_error_not_a_missing_ref(refs: RefContainer) -> None:
    path = refs.root / "refs/heads/main"
    path.parent.mkdir(parents=True)
    path.write_text("not an id\n")
    with refs.locked("refs/heads/main") as ref, pytest.raises(RefError, match="not an object id"):
        _ = ref.oid
