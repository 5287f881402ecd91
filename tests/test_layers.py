"""The interfaces hold no SQL: the command line, the API and the pages call domain functions.

The import direction between the layers is checked by import-linter (`make lint`); this checks
what a linter of imports cannot see: SQL text written inside an interface.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INTERFACES = ("api", "maps", "cli")
# The start of a statement as written in a query string, not words in a zh-CN message.
SQL = re.compile(r"^\s*(SELECT\s.+\sFROM\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
                 r"|WITH\s+\w+\s+AS\s*\(|COPY\s+\w+)", re.IGNORECASE | re.DOTALL)


def sql_strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(n.lineno, n.value[:60]) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and SQL.match(n.value)]


def sql_calls(path: Path) -> list[int]:
    """Lines that import SQLAlchemy's text() or psycopg's sql module: raw statements."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module in ("sqlalchemy", "sqlalchemy.sql") and any(
                a.name in ("text", "select", "insert", "update", "delete") for a in n.names):
            out.append(n.lineno)
        if isinstance(n, ast.ImportFrom) and n.module == "psycopg" and any(
                a.name == "sql" for a in n.names):
            out.append(n.lineno)
    return out


def interface_files() -> list[Path]:
    return sorted(p for d in INTERFACES for p in (ROOT / d).rglob("*.py"))


def test_the_scan_finds_sql_where_there_is_some(tmp_path: Path) -> None:
    sample = tmp_path / "router.py"
    sample.write_text('from sqlalchemy import text\nQ = text("SELECT id FROM entity")\n'
                      'M = "请选择主体"\n', encoding="utf-8")
    assert sql_strings(sample) == [(2, "SELECT id FROM entity")]
    assert sql_calls(sample) == [1]


@pytest.mark.parametrize("path", interface_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_interfaces_hold_no_sql(path: Path) -> None:
    assert sql_strings(path) == [], "SQL belongs in the domain packages (georeg/, grids/)"
    assert sql_calls(path) == [], "interfaces call domain functions instead of writing SQL"


def test_the_command_line_starts_without_the_table_metadata() -> None:
    """`georeg --help` pays for what `import cli` loads: GeoAlchemy2 and the account tables
    come in only with the commands that use them (georeg.roles holds the role names)."""
    import subprocess
    import sys

    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, cli; print(sorted(m for m in ('geoalchemy2', "
         "'georeg.tables', 'georeg.accounts') if m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
