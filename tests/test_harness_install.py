"""bench and harness run from an installed package: they import nothing of tests/, and the
files they read at run time (recorded payloads, the contract's schemas, the topic list) are
package data of the distribution (pyproject.toml), not files found in a checkout."""

from __future__ import annotations

import ast
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from setuptools import find_namespace_packages

from lcm.paths import REPO_DIR


def installed_files() -> set[Path]:
    """What setuptools puts into the distribution: the modules and package data of the
    packages pyproject.toml selects."""
    tool = tomllib.loads((REPO_DIR / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    find = tool["setuptools"]["packages"]["find"]
    patterns = tool["setuptools"]["package-data"]["*"]
    packages = find_namespace_packages(str(REPO_DIR), include=find["include"],
                                       exclude=find.get("exclude", ()))
    out = set()
    for package in packages:
        for path in (REPO_DIR / package.replace(".", "/")).iterdir():
            if path.is_file() and (path.suffix == ".py"
                                   or any(fnmatch(path.name, p) for p in patterns)):
                out.add(path)
    return out


def test_recorded_payloads_schemas_and_topics_are_installed() -> None:
    installed = installed_files()
    needed = [p for p in (REPO_DIR / "harness" / "recorded").rglob("*")
              if p.is_file() and p.name != "ORIGIN.md" and "__pycache__" not in p.parts]
    needed += [*(REPO_DIR / "lcm" / "schemas").glob("*.json"), REPO_DIR / "lcm" / "topics.txt"]
    assert len(needed) > 60
    missing = sorted(str(p.relative_to(REPO_DIR)) for p in needed if p not in installed)
    assert not missing, f"not package data (pyproject.toml): {missing}"


def test_the_npm_tree_of_the_timescale_engine_is_not_a_package() -> None:
    assert not [p for p in installed_files() if "node_modules" in p.parts]


def test_bench_and_harness_read_nothing_from_tests() -> None:
    wrong = []
    for package in ("bench", "harness"):
        for path in sorted((REPO_DIR / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and (node.value == "tests" or node.value.startswith("tests/"))):
                    wrong.append(f"{path.relative_to(REPO_DIR)}:{node.lineno}")
    assert not wrong, wrong
