"""The table builders depend one way: none imports another table's module for its helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import workbench.tables

TABLES = Path(workbench.tables.__file__).parent
# Modules that hold what several tables share; a table may import these, and they import no table.
SHARED = {"_columns", "_fields", "payload_time", "pairing", "transaction_calls"}
TABLE_MODULES = {"calls", "connections", "frames", "meter_values", "payloads", "status", "transactions"}


def _imported_siblings(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_shared_helpers_import_no_table_module() -> None:
    for name in SHARED:
        assert not (_imported_siblings(TABLES / f"{name}.py") & TABLE_MODULES), name


def test_meter_values_and_transactions_do_not_import_each_other() -> None:
    assert "transactions" not in _imported_siblings(TABLES / "meter_values.py")
    assert "meter_values" not in _imported_siblings(TABLES / "transactions.py")
    assert "meter_values" not in _imported_siblings(TABLES / "status.py")
