"""Habits the code keeps: comments say why, never which of the project's issues asked for a change
(the issue tracker is not in the repository, so such a comment cannot be resolved by a reader)."""

from __future__ import annotations

import re

from support import ROOT

# The word followed by a number names the project's own tracker, which a reader cannot open. A
# public issue of another project is cited with its repository ("standard/issues/NNNN"), which
# this does not match.
PROJECT_ISSUE = re.compile(r"(?<![\w/])issues? #?\d+(?! ?\d)", re.IGNORECASE)
EXTERNAL = re.compile(r"(standard|ocds)[/ ]issues?[/ ]?#?\d+|issues/\d+", re.IGNORECASE)
FOLDERS = ["portal", "ocds", "anchoring", "static", "bench", "migrations", "tests", "tools", ".ci"]
SUFFIXES = {".py", ".js", ".mjs", ".html", ".css", ".sol", ".toml", ".cfg", ""}


def test_no_comment_names_a_project_issue():
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or path.suffix not in SUFFIXES or "__pycache__" in path.parts:
                continue
            if path == ROOT / "tests" / "test_habits.py":
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if PROJECT_ISSUE.search(EXTERNAL.sub("", line)):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    for name in ("Makefile", "pyproject.toml", "README.md"):
        for number, line in enumerate((ROOT / name).read_text().splitlines(), 1):
            if PROJECT_ISSUE.search(EXTERNAL.sub("", line)):
                found.append(f"{name}:{number}: {line.strip()[:100]}")
    assert found == []
