"""`make audit`: pip-audit on the locked dependencies and bandit on the package.

Findings are fixed, or waived in security/waivers.toml with a reason. pip-audit needs
PyPI's per-release JSON API for its vulnerability data; where the registry (or a mirror
that serves only the package index) does not answer it, that half is skipped with a
message rather than passing silently. Bandit runs offline and always counts.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404 - runs the two audit tools from this venv, fixed arguments
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOCK = ROOT / "requirements.lock"
WAIVERS = ROOT / "security" / "waivers.toml"


def _load_waivers() -> dict[str, dict[str, str]]:
    waivers = tomllib.loads(WAIVERS.read_text())
    for section in ("pip-audit", "bandit"):
        for key, reason in waivers.setdefault(section, {}).items():
            if not isinstance(reason, str) or len(reason.strip()) < 10:
                sys.exit(f"audit: waiver {section} {key!r} needs a reason (a sentence)")
    return waivers


def _run_json(args: list[str]) -> dict:
    result = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.exit(f"audit: {args[0]} failed ({result.returncode}):\n{result.stderr[-2000:]}")


def pip_audit(waived: dict[str, str]) -> list[str]:
    """Audit requirements.lock; return the unwaived findings (empty when skipped)."""
    report = _run_json([
        str(BIN / "pip-audit"), "--requirement", str(LOCK), "--no-deps", "--disable-pip",
        "--progress-spinner", "off", "--format", "json",
    ])  # fmt: skip
    deps = report["dependencies"]
    skipped = [d for d in deps if d.get("skip_reason")]
    if deps and len(skipped) == len(deps):
        print(
            f"pip-audit: SKIPPED - no vulnerability data reachable for any of {len(deps)} "
            f"locked packages ({skipped[0]['skip_reason']}). Run `make audit` where "
            "https://pypi.org/pypi/<name>/<version>/json answers."
        )
        return []
    problems = [f"{d['name']}: not audited ({d['skip_reason']})" for d in skipped]
    used = set()
    for dep in deps:
        for vuln in dep.get("vulns", []):
            ids = {vuln["id"], *vuln.get("aliases", [])}
            if ids & waived.keys():
                used |= ids & waived.keys()
                continue
            fix = ", ".join(vuln.get("fix_versions", [])) or "no fix released"
            problems.append(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fix})")
    problems += [f"stale pip-audit waiver {key!r}: no such finding" for key in waived.keys() - used]
    print(f"pip-audit: {len(deps)} locked packages audited, {len(used)} waived finding(s)")
    return problems


def bandit(waived: dict[str, str]) -> list[str]:
    """Scan the package; return the unwaived findings."""
    report = _run_json([str(BIN / "bandit"), "-q", "-r", "supportdesk", "-f", "json"])
    if report.get("errors"):
        return [f"bandit could not scan {e['filename']}: {e['reason']}" for e in report["errors"]]
    problems, used = [], set()
    for item in report["results"]:
        key = f"{item['test_id']}:{item['filename']}"
        if key in waived:
            used.add(key)
            continue
        problems.append(
            f"{item['filename']}:{item['line_number']}: {item['test_id']} "
            f"{item['issue_text']} ({item['issue_severity']})"
        )
    problems += [f"stale bandit waiver {key!r}: no such finding" for key in waived.keys() - used]
    totals = report["metrics"]["_totals"]
    skipped = totals.get("nosec", 0) + totals.get("skipped_tests", 0)
    print(f"bandit: {len(report['results'])} finding(s), {len(used)} waived here, "
          f"{skipped} line(s) waived inline with nosec")  # fmt: skip
    return problems


def main() -> int:
    """Run both audits; exit status 1 if any finding is neither fixed nor waived."""
    waivers = _load_waivers()
    problems = pip_audit(waivers["pip-audit"]) + bandit(waivers["bandit"])
    for problem in problems:
        print(f"  {problem}")
    if problems:
        print(f"audit: {len(problems)} unwaived finding(s); fix them or add a reviewed waiver")
        return 1
    print("audit: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
