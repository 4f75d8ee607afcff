"""Keeping a repository healthy: fsck (verify), gc (remove unreachable objects), reindex."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from ...repo.diff import format_size
from ...repo.maintenance import DEFAULT_GRACE
from ..common import (
    JsonOption,
    RepoOption,
    console,
    exit_with_error,
    print_json,
    progress_bar,
    repository,
)


def fsck(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Remove the lock files left by writers that are no longer running."
        ),
    ] = False,
    json_output: JsonOption = False,
    repo_path: RepoOption = None,
) -> None:
    """Verify every stored object, and that everything refs reach exists.

    Exits non-zero, naming each object by id, when something is corrupt or missing. Lock files
    whose writers are gone are listed (the next writer removes them by itself).

    Example: modelsync fsck --repair --json
    """
    with repository(repo_path) as repo, progress_bar("Checking objects") as progress:
        report = repo.fsck(progress=progress, repair=repair)
    if json_output:
        print_json(report.to_json())
    else:
        for oid in report.corrupt:
            console.print(Text(f"corrupt object {oid}", style="red"))
        for oid, context in report.missing:
            console.print(Text(f"missing object {oid} ({context})", style="red"))
        for name in report.dangling_refs:
            console.print(Text(f"dangling ref {name}: it points at a missing object", style="red"))
        for path, why in report.damaged_files:
            console.print(Text(f"damaged file {path}: {why}", style="red"))
        for path, why in report.stale_locks:
            if report.repaired:
                console.print(f"removed stale lock {path}: {why}")
            else:
                console.print(f"stale lock {path}: {why}; 'modelsync fsck --repair' removes it")
        console.print(f"checked {report.checked} objects")
    if not report.ok:
        problems = len(report.problems())
        exit_with_error(f"fsck found {problems} problem{'s' if problems != 1 else ''}")


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Only report what would be removed.")
    ] = False,
    prune_now: Annotated[
        bool,
        typer.Option(
            "--prune-now",
            help="Also remove unreachable objects written in the last hour (by default they "
            "stay, in case another process is about to commit them).",
        ),
    ] = False,
    json_output: JsonOption = False,
    repo_path: RepoOption = None,
) -> None:
    """Remove objects that no branch, tag, HEAD or staged file reaches.

    Unreachable objects younger than an hour are kept unless --prune-now is given. Removes
    nothing, and exits non-zero naming it, when an object that history hangs from is corrupt or
    missing: run fsck. Also removes lock files whose writers are no longer running.

    Example: modelsync gc --dry-run --prune-now
    """
    grace = 0.0 if prune_now else DEFAULT_GRACE
    with repository(repo_path) as repo, progress_bar("Collecting garbage") as progress:
        report = repo.gc(dry_run=dry_run, grace=grace, progress=progress)
    if json_output:
        print_json(report.to_json())
        return
    count = len(report.unreachable)
    size = format_size(report.bytes_freed)
    if dry_run:
        console.print(f"would remove {count} unreachable objects ({size})")
        return
    console.print(f"removed {report.removed} unreachable objects ({size})")
    for path, why in report.stale_locks:
        console.print(f"removed stale lock {path}: {why}")
    compressed = report.compressed
    if compressed.objects:
        console.print(
            f"compressed {compressed.objects} objects stored raw: "
            f"{format_size(compressed.bytes_before)} -> {format_size(compressed.bytes_after)}"
        )


def reindex(repo_path: RepoOption = None) -> None:
    """Rebuild the SQLite catalog from the commits that refs reach.

    A catalog file SQLite cannot read is first moved aside, as index.db.corrupt-TIME.

    Example: modelsync reindex
    """
    with repository(repo_path) as repo, progress_bar("Reindexing") as progress:
        count = repo.reindex(progress=progress)
    console.print(f"reindexed {count} commits")


def register(app: typer.Typer) -> None:
    app.command()(fsck)
    app.command()(gc)
    app.command()(reindex)
