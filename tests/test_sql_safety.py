"""Every SQL text the package builds is bound-parameter: no formatting inside text()."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "supportdesk"
SQL_CALLS = {"text", "exec_driver_sql"}


def _formatted(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return True  # f-string
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return True  # "..." % values
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format"
    return False


def _offenders():
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in SQL_CALLS and _formatted(node.args[0]):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def test_no_formatted_strings_reach_sql():
    assert _offenders() == []


def test_the_check_finds_a_formatted_statement(tmp_path, monkeypatch):
    bad = tmp_path / "supportdesk"
    bad.mkdir()
    (bad / "bad.py").write_text('import sqlalchemy as sa\nsa.text(f"SELECT {x}")\n')
    monkeypatch.setattr("tests.test_sql_safety.PACKAGE", bad)
    assert _offenders() == ["supportdesk/bad.py:2"]
