"""The migration linter (migrations/lint.py): it passes today and it can fail."""

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_module():
    spec = importlib.util.spec_from_file_location("migration_lint", ROOT / "migrations" / "lint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def lint(tmp_path, monkeypatch):
    module = _lint_module()
    if shutil.which("squawk", path=str(Path(module.sys.executable).parent)) is None:
        pytest.skip("squawk is not installed in this environment (make install adds it)")
    monkeypatch.setattr(module, "OUT", tmp_path)
    return module


def _sql(tmp_path, name, text, waivers=None):
    target = tmp_path / f"{name}.sql"
    header = "".join(f"-- squawk-ignore-file {r} -- {w}\n" for r, w in (waivers or {}).items())
    target.write_text(header + text)
    return target, {target.name: (f"{name}.py", waivers or {})}


def test_every_revision_passes(lint):
    assert lint.main() == 0


def test_a_blocking_statement_is_found_and_a_waiver_needs_its_rule_to_fire(lint, tmp_path):
    bad, waived = _sql(tmp_path, "bad", "CREATE INDEX ix_t ON tickets (title);\n")
    assert "require-concurrent-index-creation" in {p["rule_name"] for p in lint.problems([bad])}
    rules = {p["rule_name"] for p in lint.problems([bad])}
    fine, waived = _sql(tmp_path, "waived", "CREATE INDEX ix_t ON tickets (title);\n",
                        {rule: "an empty table" for rule in rules})  # fmt: skip
    assert lint.problems([fine]) == []
    assert lint._stale_waivers([fine], waived) == []
    stale, waived = _sql(tmp_path, "stale", "SELECT 1;\n", {"ban-drop-column": "old reason"})
    assert lint._stale_waivers([stale], waived) == [
        "stale.py: waiver of ban-drop-column is stale (the rule no longer fires)"
    ]
