"""Objects: canonical bytes (same value, same id), exact round trips, what each points at, and
which tree entry names are safe as file names."""

from __future__ import annotations

import math

import pytest

from modelsync.model.objects import (
    ChunkedFile,
    Commit,
    MalformedObject,
    Signature,
    Tag,
    Tree,
    TreeEntry,
    canonical_json,
    check_entry_name,
    check_tree_path,
    json_safe_number,
    object_type,
    references,
)
from modelsync.util.hashing import sha256_hex

ADA = Signature("Ada", "ada@example.com")
OID_A = "a" * 64
OID_B = "b" * 64


def test_canonical_json_sorts_keys_and_drops_spaces() -> None:
    assert canonical_json({"b": 1, "a": [1, 2]}) == b'{"a":[1,2],"b":1}'
    assert canonical_json({"name": "café"}) == '{"name":"café"}'.encode()


def test_tree_bytes_do_not_depend_on_insertion_order() -> None:
    one = Tree({"x": TreeEntry("blob", OID_A, 3), "y": TreeEntry("blob", OID_B, 4)})
    two = Tree({"y": TreeEntry("blob", OID_B, 4), "x": TreeEntry("blob", OID_A, 3)})
    assert one.to_bytes() == two.to_bytes()
    assert sha256_hex(one.to_bytes()) == sha256_hex(two.to_bytes())


def test_tree_round_trips() -> None:
    tree = Tree(
        {"a.txt": TreeEntry("blob", OID_A, 5), "sub": TreeEntry("tree", OID_B, 0, "040000")}
    )
    assert Tree.from_bytes(tree.to_bytes()) == tree


def test_chunked_file_round_trips() -> None:
    listing = ChunkedFile(size=30, chunks=((OID_A, 10), (OID_B, 20)))
    assert ChunkedFile.from_bytes(listing.to_bytes()) == listing


def test_commit_round_trips_with_nan_metrics() -> None:
    commit = Commit(OID_A, (OID_B,), ADA, 1700000000.5, "train\n\nmore", {"loss": math.inf})
    again = Commit.from_bytes(commit.to_bytes())
    assert again == commit
    assert again.summary == "train"


def test_tag_round_trips() -> None:
    tag = Tag(OID_A, "v1", ADA, 1700000000.0, "release")
    assert Tag.from_bytes(tag.to_bytes()) == tag


@pytest.mark.parametrize(
    ("reader", "data"),
    [
        (Tree.from_bytes, b"not json"),
        (Tree.from_bytes, Commit(OID_A, (), ADA, 0.0, "m").to_bytes()),
        (Commit.from_bytes, b'{"type":"commit"}'),
        (ChunkedFile.from_bytes, b'{"type":"file","size":1,"chunks":[["x"]]}'),
        (Tag.from_bytes, b'{"type":"tag","object":"x"}'),
        (Tree.from_bytes, b'{"type":"tree","entries":[]}'),
    ],
)
def test_malformed_bytes_raise_malformed_object(reader: object, data: bytes) -> None:
    with pytest.raises(MalformedObject):
        reader(data)  # type: ignore[operator]


def test_unknown_tree_entry_kind_is_malformed() -> None:
    data = (
        b'{"entries":{"x":{"id":"'
        + OID_A.encode()
        + b'","kind":"weird","mode":"100644","size":1}},"type":"tree"}'
    )
    with pytest.raises(MalformedObject):
        Tree.from_bytes(data)


def test_object_type_tells_structured_from_raw() -> None:
    assert object_type(Tree({}).to_bytes()) == "tree"
    assert object_type(b'{"not": "typed"}') is None
    assert object_type(b"\x00raw bytes") is None


def test_references_walk_every_structured_kind() -> None:
    tree = Tree({"f": TreeEntry("file", OID_A, 9), "d": TreeEntry("tree", OID_B, 0)})
    assert sorted(references("tree", tree.to_bytes())) == [("file", OID_A), ("tree", OID_B)]
    listing = ChunkedFile(2, ((OID_A, 1), (OID_B, 1)))
    assert references("file", listing.to_bytes()) == [("chunk", OID_A), ("chunk", OID_B)]
    commit = Commit(OID_A, (OID_B,), ADA, 0.0, "m")
    assert references("commit", commit.to_bytes()) == [("tree", OID_A), ("commit", OID_B)]
    assert references("tag", Tag(OID_B, "v", ADA, 0.0, "").to_bytes()) == [("commit", OID_B)]
    assert references("blob", b"anything") == []


def test_json_safe_number_spells_out_non_finite_values() -> None:
    assert json_safe_number(math.nan) == "NaN"
    assert json_safe_number(-math.inf) == "-Infinity"
    assert json_safe_number(0.5) == 0.5


SAFE_NAMES = [
    "a.txt",
    "café",
    "a b",
    ".gitignore",
    ".modelsyncignore",
    "modelsync",
    "...",
    "x" * 255,
    "é" * 127,
]
UNSAFE_NAMES = [
    "",
    ".",
    "..",
    "a/b",
    "/abs",
    "a\\b",
    "a\x00b",
    "line\nbreak",
    "\x1b[31mred",
    "\x7f",
    "\x85",
    "x" * 256,
    "é" * 128,
    "\ud800",
    ".modelsync",
    ".MODELSYNC",
    ".ModelSync",
    ".modelsync.",
    ".modelsync ",
    ".model\u200dsync",
]


@pytest.mark.parametrize("name", SAFE_NAMES)
def test_ordinary_file_names_are_valid_entry_names(name: str) -> None:
    assert check_entry_name(name) == name


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_names_unsafe_as_one_file_name_are_refused(name: str) -> None:
    with pytest.raises(MalformedObject, match="invalid tree entry name"):
        check_entry_name(name)


def test_a_tree_path_is_checked_name_by_name() -> None:
    assert check_tree_path("data/train.csv") == "data/train.csv"
    for path in ("a//b", "a/", "a/../b", "sub/.modelsync/HEAD"):
        with pytest.raises(MalformedObject):
            check_tree_path(path)


def test_a_tree_cannot_be_built_with_an_unsafe_name() -> None:
    with pytest.raises(MalformedObject, match=r"'\.\.'"):
        Tree({"ok": TreeEntry("blob", OID_A, 1), "..": TreeEntry("tree", OID_B, 0)})


def test_stored_tree_bytes_with_an_unsafe_name_do_not_decode() -> None:
    data = canonical_json(
        {"type": "tree", "entries": {"../x": TreeEntry("blob", OID_A, 1).to_json()}}
    )
    with pytest.raises(MalformedObject):
        Tree.from_bytes(data)
    with pytest.raises(MalformedObject):
        references("tree", data)
