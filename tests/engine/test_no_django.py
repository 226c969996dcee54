"""The engine is pure Python: no module under durable/engine imports Django."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "durable" / "engine"


def test_engine__imports_no_django():
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in {"django", "rest_framework", "django_q"}
            ]
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if n.startswith("durable.") and n.split(".")[1] not in {"engine", "exceptions"}
            ]
    assert len(list(ENGINE.rglob("*.py"))) >= 6
    assert offenders == []
