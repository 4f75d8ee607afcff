"""Revision syntax: what ``modelsync log foo~2`` or ``show 3fa9c1`` name.

    HEAD, <branch>, <tag>, <run name> (the branch runs/<name>), <run>@<label> (the tag
    runs/<run>@<label>, e.g. foo@best; foo@last is the run's latest commit when no such tag
    exists), full ids, unique short ids (4+ hex digits), and any of those followed by ~N (N-th
    first-parent ancestor), ^ or ^N (N-th parent).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import AmbiguousRevision, ObjectMissing, RevisionError, UnknownRevision
from ..model.layout import (
    BRANCH_PREFIX,
    HEAD,
    LAST_LABEL,
    RUN_BRANCH_PREFIX,
    TAG_PREFIX,
    run_branch,
    run_name,
    split_label,
)
from ..util.hashing import is_oid, looks_like_short_oid
from .refs import RefContainer

_SUFFIX = re.compile(r"(~\d*|\^\d*)$")


@dataclass(frozen=True)
class Resolver:
    """Everything revision parsing needs from a repository, as plain callables."""

    refs: RefContainer
    peel: Callable[[str], str]
    parents_of: Callable[[str], tuple[str, ...]]
    ids_with_prefix: Callable[[str], list[str]]

    def resolve(self, rev: str) -> str:
        base, steps = split_suffixes(rev)
        oid = self._resolve_base(base, rev)
        for kind, count in steps:
            oid = self._walk(oid, kind, count, rev)
        return oid

    def ref_candidates(self, name: str) -> list[str]:
        """Full ref names ``name`` may mean, in the order they are tried (as git does)."""
        if name == HEAD:
            return [HEAD]
        if name.startswith("refs/"):
            return [name]
        branch = run_branch(run_name(name))
        candidates = [
            TAG_PREFIX + name,
            BRANCH_PREFIX + name,
            BRANCH_PREFIX + branch,
            TAG_PREFIX + branch,
        ]
        run, label = split_label(branch)
        if label == LAST_LABEL:
            candidates.append(BRANCH_PREFIX + run)
        return candidates

    def resolve_ref(self, name: str) -> tuple[str, str] | None:
        """(full ref name, id it holds) for the first candidate that exists."""
        for full in self.ref_candidates(name):
            oid = self.refs.resolve(full)
            if oid is not None:
                return full, oid
        return None

    def _resolve_base(self, base: str, rev: str) -> str:
        if not base:
            raise UnknownRevision(rev)
        found = self.resolve_ref(base)
        if found is not None:
            return self.peel(found[1])
        if base == HEAD:
            raise RevisionError("HEAD does not name a commit yet: nothing has been committed")
        if is_oid(base):
            try:
                return self.peel(base)
            except ObjectMissing:
                raise UnknownRevision(rev) from None
        if looks_like_short_oid(base):
            matches = self.ids_with_prefix(base)
            if len(matches) == 1:
                return self.peel(matches[0])
            if len(matches) > 1:
                raise AmbiguousRevision(base, matches)
        raise UnknownRevision(rev, self.suggest(base))

    def _walk(self, oid: str, kind: str, count: int, rev: str) -> str:
        if kind == "~":
            for _ in range(count):
                parents = self.parents_of(oid)
                if not parents:
                    raise UnknownRevision(rev)
                oid = parents[0]
            return oid
        if count == 0:
            return oid
        parents = self.parents_of(oid)
        if len(parents) < count:
            raise UnknownRevision(rev)
        return parents[count - 1]

    def suggest(self, name: str) -> list[str]:
        known = _short_names(self.refs.keys(BRANCH_PREFIX) + self.refs.keys(TAG_PREFIX))
        return difflib.get_close_matches(name, known, n=3, cutoff=0.6)


def _short_names(full_names: Iterable[str]) -> list[str]:
    names = set()
    for full in full_names:
        short = full.removeprefix(BRANCH_PREFIX).removeprefix(TAG_PREFIX)
        names.add(short)
        if short.startswith(RUN_BRANCH_PREFIX):
            names.add(run_name(short))
    return sorted(names)


def split_suffixes(rev: str) -> tuple[str, list[tuple[str, int]]]:
    steps: list[tuple[str, int]] = []
    base = rev
    while match := _SUFFIX.search(base):
        token = match.group(1)
        digits = token[1:]
        count = int(digits) if digits else 1
        steps.append((token[0], count))
        base = base[: match.start()]
    steps.reverse()
    return base, steps
