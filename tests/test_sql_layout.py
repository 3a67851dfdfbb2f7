"""The SQL adapter's shape: the schema revision it expects, no import circles, lean imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from ohf_persistence.adapters.sql.migrations import head_revision
from ohf_persistence.adapters.sql.models import SCHEMA_HEAD

PACKAGE = Path(__file__).resolve().parents[1] / "ohf_persistence" / "adapters" / "sql"


def test_schema_head_is_the_alembic_head() -> None:
    # Opening a store compares alembic_version with SCHEMA_HEAD without importing Alembic.
    assert head_revision() == SCHEMA_HEAD, "a revision was added: update models.SCHEMA_HEAD"


def _runtime_imports(path: Path) -> set[str]:
    """Sibling modules imported at run time (TYPE_CHECKING blocks and the package excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.level == 1:
                if child.module:
                    found.add(child.module.split(".")[0])
                else:
                    found.update(alias.name for alias in child.names)
            visit(child)

    visit(tree)
    return found


def test_no_import_circles_between_the_sql_modules() -> None:
    graph = {p.stem: _runtime_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for name in graph.get(start, ()):
            if name == goal or (name not in seen and reaches(name, goal, seen | {name})):
                return True
        return False

    circles = [name for name in graph if reaches(name, name, {name})]
    assert not circles, graph


def test_a_sqlite_call_imports_no_orm_alembic_or_other_driver(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lean.db'}"
    script = f"""
import asyncio, json, sys
import ohf_persistence

async def main():
    async with ohf_persistence.open_store({url!r}) as store:
        await store.machines.get_by_id("i-1")
        await store.requests.get_by_status("pending")

asyncio.run(main())
print(json.dumps(sorted(sys.modules)))
"""
    prepare = f"""
import asyncio, ohf_persistence
async def main():
    store = await ohf_persistence.open_store({url!r}, migrate=True)
    await store.close()
asyncio.run(main())
"""
    subprocess.run([sys.executable, "-c", prepare], check=True)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    modules = json.loads(out.stdout)
    unwanted = (
        "sqlalchemy.orm",
        "sqlalchemy.ext.asyncio",
        "alembic",
        "asyncpg",
        "pynamodb",
        "botocore",
    )
    loaded = [m for m in modules if m.split(".")[0] in unwanted or m.startswith(unwanted)]
    assert not loaded, loaded
