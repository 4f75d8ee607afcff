"""The web UI ships whole in the package: every page's assets are served from the app itself (no
CDN, nothing fetched at run time), vendored libraries keep their licence, and a built wheel
carries it all."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelsync.api.routes.ui import PAGES, STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"""(?:src|href)="([^"]*)\"""")
IMPORT = re.compile(r"""from\s+"([^"]+)"|import\s*\(\s*"([^"]+)"\s*\)""")
UNSAFE_HTML = re.compile(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write")
OUR_SCRIPTS = sorted(p for p in STATIC_DIR.glob("*.js"))


@pytest.mark.parametrize("url", sorted(PAGES))
def test_every_page_and_each_asset_it_references_is_served_locally(
    client: TestClient, url: str
) -> None:
    page = client.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    references = REFERENCE.findall(page.text)
    assert references
    for reference in references:
        if reference.startswith("data:") or not reference.startswith("/static/"):
            assert reference.startswith(("data:", "/")) and not reference.startswith("//"), (
                reference
            )
            continue
        assert client.get(reference).status_code == 200, reference


@pytest.mark.parametrize("script", OUR_SCRIPTS, ids=lambda p: p.name)
def test_our_scripts_load_nothing_from_elsewhere(client: TestClient, script: Path) -> None:
    text = script.read_text()
    assert "http://" not in text and "https://" not in text
    assert not UNSAFE_HTML.search(text)
    for match in IMPORT.finditer(text):
        target = match.group(1) or match.group(2)
        assert target.startswith("./"), target
        assert client.get(f"/static/{target[2:]}").status_code == 200


def test_vendored_libraries_keep_their_licences() -> None:
    for library in (STATIC_DIR / "vendor").iterdir():
        assert (library / "LICENSE").is_file(), library.name
        assert (library / "VERSION").is_file(), library.name


@pytest.mark.slow
def test_a_built_wheel_carries_the_ui(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("modelsync-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"modelsync/api/static/{p.relative_to(STATIC_DIR).as_posix()}"
        for p in STATIC_DIR.rglob("*")
        if p.is_file()
    }
    assert expected <= names
    assert "modelsync/api/routes/runs.py" in names
