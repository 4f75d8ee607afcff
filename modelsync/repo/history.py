"""Walking history from the refs: every ref tip, and the commits the tips reach.

What everything kept hangs from is the same for every walk over the whole repository (gc's
roots, ``reindex``, filling a new catalog, "is this branch merged anywhere else?"): every branch
and tag, then HEAD. ``ref_tips`` lists them once; ``walk_commits`` visits the commits below them.

A branch or tag whose file holds no object id is listed as unreadable, never skipped silently: a
walk that left it out would take what it reaches for unreachable. A symbolic ref is no tip of
its own (it names a ref that is listed), and neither is a HEAD that names no commit yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..model.layout import BRANCH_PREFIX, HEAD, TAG_PREFIX
from ..model.objects import Commit
from ..util.hashing import is_oid
from .refs import SYMREF_PREFIX, RefContainer


@dataclass
class RefTips:
    ids: dict[str, str] = field(default_factory=dict)
    """Full ref name to the id it holds (an annotated tag's object, unpeeled): the branches,
    then the tags, then ``HEAD`` as the commit it names through its branch."""
    unreadable: list[str] = field(default_factory=list)
    """Branches and tags whose file holds something other than an object id."""


def ref_tips(refs: RefContainer) -> RefTips:
    """Every branch, tag and HEAD, with the id each holds (see ``RefTips``)."""
    tips = RefTips()
    for name in [*refs.keys(BRANCH_PREFIX), *refs.keys(TAG_PREFIX)]:
        raw = refs.read_raw(name)
        if raw is None or raw.startswith(SYMREF_PREFIX):
            continue  # deleted meanwhile, or it names a ref listed itself
        if is_oid(raw):
            tips.ids[name] = raw
        else:
            tips.unreadable.append(name)
    head = refs.resolve(HEAD)
    if head is not None:
        tips.ids[HEAD] = head
    return tips


def walk_commits(
    read_commit: Callable[[str], Commit], tips: Iterable[str]
) -> Iterator[tuple[str, Commit]]:
    """Every commit reachable from the commit ids ``tips``, each once, as ``(id, commit)``."""
    seen: set[str] = set()
    stack = list(tips)
    while stack:
        oid = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        commit = read_commit(oid)
        yield oid, commit
        stack.extend(commit.parents)
