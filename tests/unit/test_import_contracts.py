"""The layer contracts bite: `lint-imports` refuses an analyzer that reaches for the API door (core.kube).

The contracts run in CI over the real tree, where they are kept; this proves the one that keeps analyzers
pure is not vacuous. A copy of core/ and bot/ is laid out as the `aegis` package in a temporary
directory, put first on PYTHONPATH (ahead of the editable install's finder), and an analyzer importing
aegis.core.kube is planted in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACT = "pure code never reaches the API door"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_lint_imports_refuses_an_analyzer_that_imports_core_kube(tmp_path: Path) -> None:
    package = tmp_path / "aegis"
    package.mkdir()
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "core", package / "core", ignore=ignore)
    shutil.copytree(ROOT / "bot", package / "bot", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    clean = lint_imports(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    (package / "core" / "analyzers" / "planted_probe.py").write_text("from aegis.core.kube import gateway  # noqa: F401\n")
    planted = lint_imports(tmp_path)
    assert planted.returncode != 0, planted.stdout
    broken = planted.stdout.split("Broken contracts", 1)[-1]
    assert CONTRACT in broken, planted.stdout
    assert "aegis.core.analyzers.planted_probe -> aegis.core.kube.gateway" in broken, planted.stdout
