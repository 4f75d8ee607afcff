"""A long-running server never answers from a catalog that lags behind another process's commit.

A writer whose catalog write failed after its ref moved leaves a pending note (see
``modelsync.repo.catalogsync``). A command catches up with the notes when it starts; the server
lives on, so it catches up before each request.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from fastapi.testclient import TestClient

from modelsync import Repo
from modelsync.api import Settings, create_app

from .conftest import AUTH, BASE_URL, TOKEN

_RUN_WITH_A_FAILING_CATALOG = textwrap.dedent(
    """
    import sqlite3, sys, warnings
    import modelsync
    from modelsync.catalog.db import Catalog

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    Catalog.record_commit = disk_full
    warnings.simplefilter("ignore")
    with modelsync.start_run("late", repo=sys.argv[1], params={"lr": 0.5}) as run:
        run.log_metrics({"loss": 0.25})
    """
)


def test_the_server_lists_a_run_another_process_could_not_index(repo: Repo) -> None:
    app = create_app(repo.work_tree, Settings(token=TOKEN))  # the real get_repo
    with TestClient(app, base_url=BASE_URL, headers=AUTH) as client:
        assert client.get("/runs").json()["total"] == 0  # the server's catalog is open
        subprocess.run(
            [sys.executable, "-c", _RUN_WITH_A_FAILING_CATALOG, str(repo.work_tree)], check=True
        )
        assert repo.refs.resolve("refs/heads/runs/late") is not None
        listing = client.get("/runs").json()
    assert [run["name"] for run in listing["runs"]] == ["late"]

