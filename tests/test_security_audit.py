"""`make audit`'s judge: findings fail, reviewed waivers pass, stale waivers fail."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "security_audit", Path(__file__).resolve().parent.parent / "security" / "audit.py"
)
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)

VULN = {"id": "PYSEC-2099-1", "aliases": ["GHSA-xxxx"], "fix_versions": ["9.9"]}


@pytest.fixture
def report(monkeypatch):
    reports = {}
    monkeypatch.setattr(audit, "_run_json", lambda args: reports[Path(args[0]).name])
    return reports


def test_a_vulnerable_locked_package_fails_unless_waived(report):
    report["pip-audit"] = {"dependencies": [
        {"name": "flask", "version": "1.0", "vulns": [VULN]},
        {"name": "jinja2", "version": "3.1", "vulns": []},
    ]}  # fmt: skip
    assert audit.pip_audit({}) == ["flask 1.0: PYSEC-2099-1 (fixed in 9.9)"]
    assert audit.pip_audit({"GHSA-xxxx": "not reachable: we never call the affected API"}) == []
    stale = audit.pip_audit({"PYSEC-2000-7": "an old finding that an upgrade removed"})
    assert "stale pip-audit waiver 'PYSEC-2000-7': no such finding" in stale


def test_unreachable_vulnerability_data_skips_with_a_message(report, capsys):
    report["pip-audit"] = {"dependencies": [{"name": "flask", "skip_reason": "not found"}]}
    assert audit.pip_audit({}) == []
    assert "pip-audit: SKIPPED" in capsys.readouterr().out
    # Partly unreachable is not "audited": the packages it could not check are findings.
    report["pip-audit"]["dependencies"].append({"name": "jinja2", "version": "3", "vulns": []})
    assert audit.pip_audit({}) == ["flask: not audited (not found)"]


def test_bandit_findings_fail_unless_waived(report):
    finding = {"test_id": "B608", "filename": "supportdesk/x.py", "line_number": 3,
               "issue_text": "SQL built from strings", "issue_severity": "MEDIUM"}  # fmt: skip
    report["bandit"] = {"errors": [], "results": [finding],
                        "metrics": {"_totals": {"nosec": 0}}}  # fmt: skip
    assert audit.bandit({}) == ["supportdesk/x.py:3: B608 SQL built from strings (MEDIUM)"]
    assert audit.bandit({"B608:supportdesk/x.py": "bound parameters only, see the test"}) == []


def test_the_waiver_file_is_valid_and_every_waiver_has_a_reason():
    waivers = audit._load_waivers()
    assert set(waivers) >= {"pip-audit", "bandit"}
