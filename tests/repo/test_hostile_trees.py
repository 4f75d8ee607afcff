"""Hostile trees: names that climb out of the working tree or into the control directory.

Each hostile tree is stored as hand-written bytes (``Tree`` itself refuses such names) and
committed on the branch ``evil``; its payload aims at the directory that holds the repository.
Every way of checking it out fails with one line and changes nothing, inside the repository or
beside it, and fsck names the tree. Symbolic links to directories in the working tree are never
written or deleted through, and the staging area never hands on a path a tree could not hold.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from typer.testing import Result

from modelsync.api import Settings, create_app, get_repo
from modelsync.errors import IndexCorrupt, ObjectCorrupt, PathError, UsageError
from modelsync.model.objects import (
    FILE_MODE,
    TREE_MODE,
    Commit,
    MalformedObject,
    Tree,
    TreeEntry,
    canonical_json,
    check_entry_name,
)
from modelsync.repo.index import Index
from modelsync.repo.repository import Repo
from tests.support.refusals import assert_refused, snapshot

Cli = Callable[..., Result]
TOKEN = "hostile-trees-token-0123456789"
PAYLOAD = b"written by a hostile tree\n"


def _blob(repo: Repo, data: bytes = PAYLOAD) -> TreeEntry:
    return TreeEntry("blob", repo.store.put(data), len(data), FILE_MODE)


def _raw_tree(repo: Repo, entries: dict[str, TreeEntry]) -> str:
    """A tree stored as its bytes, without the checks ``Tree`` makes."""
    body = {"type": "tree", "entries": {name: e.to_json() for name, e in sorted(entries.items())}}
    return repo.store.put(canonical_json(body))


def _dir(oid: str) -> TreeEntry:
    return TreeEntry("tree", oid, 0, TREE_MODE)


def _one_file_named(name: str) -> Callable[[Repo], tuple[str, str]]:
    def build(repo: Repo) -> tuple[str, str]:
        tree = _raw_tree(repo, {name: _blob(repo)})
        return tree, tree

    return build


def _one_dir_named(name: str, inside: str) -> Callable[[Repo], tuple[str, str]]:
    def build(repo: Repo) -> tuple[str, str]:
        tree = _raw_tree(repo, {name: _dir(_raw_tree(repo, {inside: _blob(repo)}))})
        return tree, tree

    return build


def _absolute(repo: Repo) -> tuple[str, str]:
    return _one_file_named(str(repo.work_tree.parent / "abs" / "path"))(repo)


def _climbing_subtree(repo: Repo) -> tuple[str, str]:
    """``sub/../../x``, as trees: the hostile one is ``sub``, below a valid root."""
    grandparent = _raw_tree(repo, {"x": _blob(repo)})
    parent = _raw_tree(repo, {"..": _dir(grandparent)})
    sub = _raw_tree(repo, {"..": _dir(parent)})
    return _raw_tree(repo, {"sub": _dir(sub)}), sub


HOSTILE: dict[str, Callable[[Repo], tuple[str, str]]] = {
    "parent": _one_file_named("../x"),
    "absolute": _absolute,
    "slashes": _one_file_named("a/../../x"),
    "dotdot-subtree": _one_dir_named("..", "x"),
    "control-dir": _one_dir_named(".modelsync", "HEAD"),
    "control-dir-uppercase": _one_dir_named(".MODELSYNC", "HEAD"),
    "empty": _one_file_named(""),
    "nul": _one_file_named("x\x00y"),
    "backslash": _one_file_named("..\\x"),
    "climbing-subtree": _climbing_subtree,
}


@pytest.fixture
def main(repo: Repo) -> Repo:
    """The repository with one ordinary commit on main, checked out."""
    Path("keep.txt").write_text("kept\n")
    repo.add(["keep.txt"])
    repo.commit("ordinary")
    return repo


@pytest.fixture(params=list(HOSTILE))
def hostile(request: pytest.FixtureRequest, main: Repo) -> str:
    """The id of the hostile tree, committed as the tip of ``evil``."""
    root, bad = HOSTILE[request.param](main)
    head = main.head_commit()
    assert head is not None
    commit = Commit(root, (head,), main.author, 0.0, "hostile")
    oid = main.store.put(commit.to_bytes())
    assert main.create_branch("evil", oid) == oid
    return bad


@pytest.fixture
def serve(main: Repo) -> Iterator[TestClient]:
    app = create_app(main.work_tree, Settings(token=SecretStr(TOKEN)))
    app.dependency_overrides[get_repo] = lambda: main
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=headers) as client:
        yield client


CHECKOUTS = [("checkout", "{rev}"), ("checkout", "--force", "{rev}"), ("reset", "--hard", "{rev}")]
CHECKOUT_IDS = ["checkout", "checkout-force", "reset-hard"]


@pytest.mark.parametrize("command", CHECKOUTS, ids=CHECKOUT_IDS)
def test_checking_out_a_hostile_tree_fails_naming_it(
    cli: Cli, main: Repo, hostile: str, command: tuple[str, ...]
) -> None:
    assert_refused(cli, main, *(arg.format(rev="evil") for arg in command), says=hostile)


@pytest.mark.parametrize("force", [False, True])
def test_the_server_refuses_to_check_out_a_hostile_tree(
    serve: TestClient, main: Repo, hostile: str, force: bool
) -> None:
    before = snapshot(main.work_tree.parent)
    response = serve.post("/checkout", json={"rev": "evil", "force": force})
    assert response.status_code == 500
    assert response.json()["code"] == "object_corrupt"
    assert hostile in response.json()["message"]
    assert snapshot(main.work_tree.parent) == before


def test_fsck_reports_a_hostile_tree_as_corrupt(cli: Cli, main: Repo, hostile: str) -> None:
    result = cli("fsck", "--json")
    assert result.exit_code != 0
    assert json.loads(result.stdout)["corrupt"] == [hostile]


def test_reading_a_hostile_tree_raises_object_corrupt(main: Repo, hostile: str) -> None:
    with pytest.raises(ObjectCorrupt, match=hostile):
        main.read_tree(hostile)


# ------------------------------------------------------------ symbolic links in the working tree
@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A directory outside the repository that a link in the working tree points at."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    return target


@pytest.fixture
def linked_data(main: Repo, elsewhere: Path) -> Repo:
    """Branch ``withdata`` holds ``data/x``; main, checked out, has none, and the working tree
    has ``data`` as a link to ``elsewhere``."""
    main.checkout("main", create_branch="withdata")
    Path("data").mkdir()
    Path("data/x").write_bytes(PAYLOAD)
    main.add(["data/x"])
    main.commit("data")
    main.checkout("main")
    Path("data").symlink_to(elsewhere, target_is_directory=True)
    return main


@pytest.mark.parametrize("command", CHECKOUTS, ids=CHECKOUT_IDS)
def test_checkout_never_writes_through_a_linked_directory(
    cli: Cli, linked_data: Repo, command: tuple[str, ...]
) -> None:
    args = (arg.format(rev="withdata") for arg in command)
    assert_refused(cli, linked_data, *args, says="'data' is a symbolic link")


def test_the_server_never_writes_through_a_linked_directory(
    serve: TestClient, linked_data: Repo, elsewhere: Path
) -> None:
    response = serve.post("/checkout", json={"rev": "withdata", "force": True})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_path"
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [("checkout", "plain"), ("checkout", "--force", "plain"), ("reset", "--hard", "plain")],
    ids=CHECKOUT_IDS,
)
def test_checkout_never_deletes_through_a_linked_directory(
    cli: Cli, main: Repo, elsewhere: Path, command: tuple[str, ...]
) -> None:
    main.create_branch("plain")
    Path("data").mkdir()
    Path("data/x").write_bytes(PAYLOAD)
    main.add(["data/x"])
    main.commit("data")
    Path("data/x").unlink()
    Path("data").rmdir()
    (elsewhere / "x").write_bytes(PAYLOAD)
    Path("data").symlink_to(elsewhere, target_is_directory=True)
    assert cli(*command).exit_code == 0
    assert (elsewhere / "x").read_bytes() == PAYLOAD
    assert Path("data").is_symlink()


# --------------------------------------------------------------- the staging area and commits
UNSAFE_PATHS = ["../x", "/abs/path", "a/../../x", ".modelsync/HEAD", "sub/.MODELSYNC/x", "a//b"]


@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_an_index_holding_an_unsafe_path_is_corrupt(tmp_path: Path, path: str) -> None:
    entry = {"kind": "blob", "oid": "c" * 64, "size": 1, "mode": FILE_MODE}
    (tmp_path / "index").write_text(json.dumps({"version": 1, "entries": {path: entry}}))
    with pytest.raises(IndexCorrupt, match="unsafe"):
        Index.load(tmp_path / "index")


def test_commit_refuses_a_hostile_index(cli: Cli, main: Repo) -> None:
    index = json.loads((main.control_dir / "index").read_bytes())
    index["entries"]["../keep.txt"] = index["entries"]["keep.txt"]
    (main.control_dir / "index").write_text(json.dumps(index))
    assert_refused(cli, main, "commit", "-m", "climb", says="staging area")


@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_write_tree_refuses_an_unsafe_path_before_writing_anything(main: Repo, path: str) -> None:
    blob = _blob(main)
    stored = set(main.store.iter_ids())
    with pytest.raises(PathError, match="cannot commit"):
        main.write_tree({"fine/x": blob, path: blob})
    assert set(main.store.iter_ids()) == stored


def test_write_tree_refuses_a_file_where_a_directory_is(main: Repo) -> None:
    with pytest.raises(UsageError, match="conflicts with the directory"):
        main.write_tree({"a/b": _blob(main), "a": _blob(main)})


def test_adding_a_file_that_no_tree_can_hold_is_refused(cli: Cli, main: Repo) -> None:
    Path("back\\slash").write_text("x")
    assert_refused(cli, main, "add", ".", says="cannot track 'back\\\\slash'")


# ------------------------------------------------------------------------ any name at all
@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    repo = Repo.init(tmp_path_factory.mktemp("names") / "repo")
    yield repo
    repo.close()


TRICKY = st.text(alphabet=".\\/ \x00\n\u200dmodelsyncMODELSYNC\u017f", max_size=14)
NAMES = st.one_of(st.text(max_size=300), TRICKY)


@settings(max_examples=200, deadline=None)
@given(name=NAMES)
def test_any_name_is_refused_or_stays_one_component_inside_the_root(
    scratch: Repo, name: str
) -> None:
    entry = TreeEntry("blob", "c" * 64, 1)
    try:
        check_entry_name(name)
    except MalformedObject:
        with pytest.raises(MalformedObject):
            Tree({name: entry})
        with pytest.raises(ObjectCorrupt):
            scratch.flatten_tree(_raw_tree(scratch, {name: entry}))
        return
    tree = Tree({name: entry})
    assert Tree.from_bytes(tree.to_bytes()) == tree
    nested = Tree({"d": _dir(scratch.store.put(tree.to_bytes()))})
    [path] = scratch.flatten_tree(scratch.store.put(nested.to_bytes()))
    assert path.split("/") == ["d", name]
    root = scratch.work_tree
    landed = Path(os.path.normpath(root / path))
    assert landed.parent == root / "d"
    assert landed.name == name
