"""The distribution: a built wheel carries the core and the integrations under one name."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
    )
    (built,) = out.glob("modelsync-*.whl")
    return built


@pytest.mark.slow
def test_wheel_maps_integrations_into_the_modelsync_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "modelsync/__init__.py" in names
    assert "modelsync/integrations/__init__.py" in names
    assert not any(name.startswith("integrations/") for name in names)


@pytest.mark.slow
def test_wheel_imports_the_same_as_the_editable_install(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    probe = (
        "import modelsync, modelsync.integrations, modelsync.cli.main;"
        "print(modelsync.__file__); print(modelsync.integrations.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    core_file, integrations_file = result.stdout.split()
    assert core_file.startswith(str(tmp_path / "site"))
    expected = tmp_path / "site" / "modelsync" / "integrations" / "__init__.py"
    assert integrations_file == str(expected)


def test_console_script_and_module_entry_point_agree() -> None:
    via_module = subprocess.run(
        [sys.executable, "-m", "modelsync", "--version"], capture_output=True, text=True, check=True
    )
    assert via_module.stdout.startswith("modelsync ")
