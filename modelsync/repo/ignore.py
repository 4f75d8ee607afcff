"""Which working-tree paths ``add`` and ``status`` pass over.

Rules come from ``.modelsyncignore`` (gitignore syntax) plus a few always-ignored folders.
"""

from __future__ import annotations

from pathlib import Path

ALWAYS_IGNORED = (".modelsync/", ".git/", "__pycache__/", ".venv/")
IGNORE_FILE = ".modelsyncignore"


class IgnoreRules:
    def __init__(self, work_tree: Path) -> None:
        lines = list(ALWAYS_IGNORED)
        ignore_file = work_tree / IGNORE_FILE
        if ignore_file.is_file():
            lines += ignore_file.read_text(encoding="utf-8").splitlines()
        import pathspec  # on first use: commands that never walk the tree skip its import

        self._spec = pathspec.GitIgnoreSpec.from_lines(lines)

    def ignored(self, relative_path: str, *, is_dir: bool = False) -> bool:
        return self._spec.match_file(relative_path + ("/" if is_dir else ""))
