"""The import rule (docs/architecture.md): the kernel `lcm` imports no other package of the
project; the product packages (ingest, the Flink job, the notifier, the report) import the
kernel and themselves only; harness, bench and backtest sit on top and may use the
products, never the tests. A new cross-import fails here, naming the file and line."""

from __future__ import annotations

import ast
from pathlib import Path

from lcm.paths import REPO_DIR

KERNEL = "lcm"
PRODUCTS = ("ingest", "flink_jobs", "notifier", "report")
ON_TOP = ("harness", "bench", "backtest")
PROJECT = (KERNEL, *PRODUCTS, *ON_TOP, "tests")
ALLOWED = {
    KERNEL: {KERNEL},
    **{p: {KERNEL, p} for p in PRODUCTS},
    "harness": {KERNEL, *PRODUCTS, "harness"},
    **{p: {KERNEL, *PRODUCTS, "harness", p} for p in ("bench", "backtest")},
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level project package) of every import in the file, nested ones too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        out += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in PROJECT]
    return out


def test_packages_import_one_way() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((REPO_DIR / package).rglob("*.py")):
            for line, imported in imported_packages(path):
                if imported not in allowed:
                    wrong.append(f"{path.relative_to(REPO_DIR)}:{line} imports {imported}")
    assert not wrong, "imports against the rule in docs/architecture.md:\n  " + "\n  ".join(wrong)


def test_the_rule_sees_a_cross_import(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from flink_jobs.config import load_config\n")
    assert imported_packages(bad) == [(2, "flink_jobs")]
