"""What ``modelsync log`` prints: commits with their run's step, epoch and metrics, a graph.

History comes from the catalog (``catalog.commits.walk_log``): a 10,000-commit run is one query, not
10,000 object reads. Decorations read only the refs that can point into what is shown: HEAD,
the branches and tags that are not runs', and the branch and labels of each run listed; the
other runs' refs (10,000 files in a large repository) are never opened.

Lines are built as plain segments and styled only on a terminal, so a long log piped to a file
costs string joins, not one Rich render per line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ...catalog.commits import CommitCache, walk_log
from ...errors import ObjectError
from ...model.layout import (
    BRANCH_PREFIX,
    HEAD,
    LABEL_REFS,
    RUN_REFS,
    TAG_PREFIX,
    label_refs,
    run_ref,
)
from ...model.objects import Commit
from ...repo.repository import Repo
from .commits import format_date, meta_lines
from .tables import Line, Segment, format_number


def read_log(
    repo: Repo, revs: Sequence[str], *, all_refs: bool, limit: int | None
) -> list[tuple[str, Commit]]:
    """Commits reachable from ``revs`` (every branch and tag with ``all_refs``), newest first."""
    cache = CommitCache(repo)
    if all_refs:
        cache.load_all()
        starts = [
            *repo.refs.items(BRANCH_PREFIX).values(),
            *(repo.peel(oid) for oid in repo.refs.items(TAG_PREFIX).values()),
        ]
        head = repo.head_commit()
        if head is not None:
            starts.append(head)
    else:
        if list(revs) == [HEAD] and repo.head_commit() is None:
            return []
        starts = [repo.resolve(rev) for rev in revs]
    return walk_log(cache, starts, limit)


def log_labels(repo: Repo, commits: Sequence[tuple[str, Commit]]) -> dict[str, list[str]]:
    """``HEAD -> main``, ``runs/foo``, ``tag: runs/foo@best`` for the commits shown."""
    runs = sorted({str(c.meta["run"]) for _, c in commits if c.meta.get("run")})
    branches = repo.refs.items(BRANCH_PREFIX, exclude=[RUN_REFS])
    tags = repo.refs.items(TAG_PREFIX, exclude=[LABEL_REFS])
    for run in runs:
        oid = repo.refs.resolve(run_ref(run))
        if oid is not None:
            branches[run_ref(run)] = oid
        tags.update(repo.refs.items(label_refs(run)))
    labels: dict[str, list[str]] = defaultdict(list)
    head_branch = repo.head_branch()
    head = repo.head_commit()
    if head is not None and head_branch is None:
        labels[head].append("HEAD")
    for full, oid in sorted(branches.items()):
        name = full.removeprefix(BRANCH_PREFIX)
        labels[oid].append(f"HEAD -> {name}" if name == head_branch else name)
    for full, oid in sorted(tags.items()):
        try:
            labels[repo.peel(oid)].append(f"tag: {full.removeprefix(TAG_PREFIX)}")
        except ObjectError:
            continue
    return labels


def run_point(commit: Commit) -> str:
    """``step 500, epoch 3`` for a run commit ('' for others)."""
    step = commit.meta.get("step")
    epoch = commit.meta.get("epoch")
    if step is None:
        return "" if epoch is None else f"epoch {epoch}"
    return f"step {step}" if epoch is None else f"step {step}, epoch {epoch}"


def metric_text(commit: Commit) -> str:
    metrics = commit.meta.get("metrics")
    if not isinstance(metrics, dict):
        return ""
    return " ".join([f"{key}={format_number(value)}" for key, value in sorted(metrics.items())])


@dataclass
class Graph:
    """Lanes of ``log --graph``: one per line of descent, ``*`` marks each commit's own.

    Before a commit, lanes that wait for it too (forks: two runs started from one commit)
    fold into its lane with ``/``; after a merge, each further parent opens a lane with ``\\``.
    """

    lanes: list[str] = field(default_factory=list)

    def commit(self, oid: str, parents: Sequence[str]) -> tuple[list[str], str, list[str]]:
        """(lines before the commit, its row's prefix, lines after it)."""
        if oid not in self.lanes:
            self.lanes.append(oid)
        col = self.lanes.index(oid)
        before = []
        for j in reversed([i for i, lane in enumerate(self.lanes) if lane == oid and i > col]):
            before.append(self._fold(j))
        row = " ".join("*" if i == col else "|" for i in range(len(self.lanes)))
        after = []
        if parents:
            self.lanes[col] = parents[0]
            for offset, parent in enumerate(p for p in parents[1:] if p not in self.lanes):
                self.lanes.insert(col + 1 + offset, parent)
                after.append(self._open(col + offset))
        else:
            after += self._close(col)
        return before, row, after

    def continuation(self) -> str:
        return " ".join("|" for _ in self.lanes)

    def _fold(self, j: int) -> str:
        """Lane ``j`` joins the one to its left; the lanes right of it move left."""
        chars = [c for i in range(len(self.lanes)) for c in ("|" if i < j else " ", " ")]
        for k in range(j, len(self.lanes)):
            chars[2 * k - 1] = "/"
        del self.lanes[j]
        return "".join(chars).rstrip()

    def _open(self, col: int) -> str:
        """A lane opens right of ``col`` for a merge's further parent; lanes right of it move."""
        chars = [c for i in range(len(self.lanes)) for c in ("|" if i <= col else " ", " ")]
        for k in range(col + 1, len(self.lanes)):
            chars[2 * k - 1] = "\\"
        return "".join(chars).rstrip()

    def _close(self, col: int) -> list[str]:
        """A root commit ends its lane; lanes right of it move left."""
        if col == len(self.lanes) - 1:
            del self.lanes[col]
            return []
        chars = [c for i in range(len(self.lanes)) for c in ("|" if i < col else " ", " ")]
        for k in range(col + 1, len(self.lanes)):
            chars[2 * k - 1] = "/"
        del self.lanes[col]
        return ["".join(chars).rstrip()]


def log_lines(
    commits: Iterable[tuple[str, Commit]],
    labels: dict[str, list[str]],
    *,
    oneline: bool,
    graph: bool,
) -> Iterator[Line]:
    """The lines of ``log``, made as they are printed."""
    lanes = Graph() if graph else None
    for oid, commit in commits:
        entry = (
            _oneline(oid, commit, labels.get(oid, [])) if oneline else _full(oid, commit, labels)
        )
        if lanes is None:
            yield entry
            continue
        body = _split_lines(entry)
        before, row, after = lanes.commit(oid, commit.parents)
        yield from [[(prefix, "red")] for prefix in before]
        yield [(row + " ", "red"), *body[0]]
        rest = lanes.continuation()
        yield from [[(rest + " " if line else rest, "red"), *line] for line in body[1:]]
        yield from [[(prefix, "red")] for prefix in after]


def _decorations(labels: list[str]) -> list[Segment]:
    return [(f" ({', '.join(labels)})", "bold cyan")] if labels else []


def _split_lines(entry: Line) -> list[Line]:
    """An entry whose texts hold newlines, as lines (``--graph`` draws a lane before each)."""
    lines: list[Line] = [[]]
    for text, style in entry:
        first, *rest = text.split("\n")
        if first:
            lines[-1].append((first, style))
        for piece in rest:
            lines.append([(piece, style)] if piece else [])
    return lines


def _oneline(oid: str, commit: Commit, labels: list[str]) -> Line:
    line: Line = [(oid[:12], "yellow"), *_decorations(labels)]
    point = run_point(commit)
    if point:
        line.append((f" [{point}]", "magenta"))
    line.append((f" {commit.summary}", ""))
    metrics = metric_text(commit)
    if metrics:
        line.append((f"  {metrics}", "green"))
    return line


def _full(oid: str, commit: Commit, labels: dict[str, list[str]]) -> Line:
    """A commit's whole entry as one Line whose texts hold its newlines: a 10,000-commit log
    builds 10,000 short lists, not 80,000."""
    author = commit.author
    entry: Line = [(f"commit {oid}", "yellow")]
    if oid in labels:
        entry += _decorations(labels[oid])
    header = f"\nAuthor: {author.name} <{author.email}>\nDate:   {format_date(commit.timestamp)}\n"
    run = commit.meta.get("run")
    if run:
        entry.append((f"{header}Run:    {run}", ""))
        point = run_point(commit)
        if point:
            entry.append((f" ({point})", "magenta"))
        metrics = metric_text(commit)
        if metrics:
            entry += [("\nMetrics: ", ""), (metrics, "green")]
        entry.append(("\n", ""))
    else:
        entry.append(
            (header + "".join(f"Meta:   {line}\n" for line in meta_lines(commit.meta)), "")
        )
    texts = commit.message.splitlines() or [""]
    message = f"    {texts[0]}\n" if len(texts) == 1 else "".join([f"    {t}\n" for t in texts])
    entry.append((f"\n{message}", ""))
    return entry
