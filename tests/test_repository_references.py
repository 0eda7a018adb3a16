"""The repository stands alone: no file cites a document that lives outside it or a path of
one particular machine, and every repository path the docs name exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from lcm.paths import REPO_DIR

# What a clone does not have. (Written so that this file does not match itself.)
OUTSIDE = [
    (re.compile(r"CONTRACTS\.md|\bDESIGN\.md"), "a document outside the repository"),
    (re.compile(r"market-data-source[s]|\bshared/(?:notes|DESIGN)|\.\./shared\b|\bcoord/"),
     "notes outside the repository"),
    (re.compile(r"(?<![\w.-])/(?:work|tmp|root|home|Users)/"), "an absolute path of a machine"),
]
SKIP_DIRS = {".git", ".venv", ".state", "node_modules", "__pycache__", "report-out"}


def repository_files() -> list[Path]:
    """Tracked and new (not ignored) files of the checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                             cwd=REPO_DIR, capture_output=True, check=True).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(REPO_DIR)) for p in REPO_DIR.rglob("*")
                 if p.is_file() and not SKIP_DIRS & set(p.relative_to(REPO_DIR).parts)]
    return [REPO_DIR / n for n in sorted(names) if (REPO_DIR / n).is_file()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None  # binary


def find_outside_references(files: list[Path], root: Path = REPO_DIR) -> list[str]:
    hits = []
    for path in files:
        text = text_of(path)
        if text is None:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for pattern, what in OUTSIDE:
                if m := pattern.search(line):
                    hits.append(f"{path.relative_to(root)}:{n}: {what}: {m.group(0)!r}")
    return hits


def test_no_file_cites_anything_outside_the_repository() -> None:
    hits = find_outside_references(repository_files())
    assert not hits, "\n".join(hits)


def test_the_check_sees_each_kind_of_outside_reference(tmp_path: Path) -> None:
    bad = tmp_path / "x.md"
    lines = ["see CONTRACTS" + ".md", "shared/" + "notes/market", "open /" + "work/x",
             "cd /" + "tmp/y", "ok: docs/contract.md, lcm/paths.py, http://h/tmp/z"]
    bad.write_text("\n".join(lines))
    hits = find_outside_references([bad], tmp_path)
    assert [h.split(":")[1] for h in hits] == ["1", "2", "3", "4"], hits


MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
TOP_LEVEL = sorted({p.relative_to(REPO_DIR).parts[0] for p in repository_files()
                    if len(p.relative_to(REPO_DIR).parts) > 1})
REPO_PATH = re.compile(rf"`((?:{'|'.join(map(re.escape, TOP_LEVEL))})/[^`\s]*)`")


def _named_paths(md: Path, text: str) -> list[tuple[str, Path]]:
    out = []
    for target in MD_LINK.findall(text):
        if not re.match(r"^(?:[a-z]+:|#)", target):
            out.append((target, (md.parent / target.split("#")[0]).resolve()))
    for target in REPO_PATH.findall(text):
        if not re.search(r"[<>*{}$]|\.\.\.|…", target):  # a pattern, not a path
            out.append((target, (REPO_DIR / target.split(":")[0]).resolve()))
    return out


def exists(path: Path) -> bool:
    """The path, or files it abbreviates: sql/flink/22 for 22_parse_funding_rates.sql,
    sql/flink/2x for the 20s."""
    if path.exists():
        return True
    return bool(re.fullmatch(r"\d[\dx]", path.name)
                and list(path.parent.glob(path.name.replace("x", "[0-9]") + "_*")))


@pytest.mark.parametrize("md", [p for p in repository_files() if p.suffix == ".md"],
                         ids=lambda p: str(p.relative_to(REPO_DIR)))
def test_every_repository_path_a_document_names_exists(md: Path) -> None:
    missing = [target for target, path in _named_paths(md, md.read_text(encoding="utf-8"))
               if not exists(path) or REPO_DIR not in (path, *path.parents)]
    assert not missing, f"{md.relative_to(REPO_DIR)} names paths that do not exist: {missing}"


def test_a_path_that_does_not_exist_is_caught() -> None:
    text = ("see `lcm/nope.py`, [gone](../lcm/gone.md), `docs/contract.md`, "
            "[schema](../lcm/schemas/prices.schema.json), `sql/flink/2x` and `lcm/<name>.py`")
    named = _named_paths(REPO_DIR / "docs" / "x.md", text)
    assert [t for t, path in named if not exists(path)] == ["../lcm/gone.md", "lcm/nope.py"]
