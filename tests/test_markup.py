"""html-validate (npm) checks the server's HTML of every page: 0 errors.

The rules are html-validate's recommended set, with the exceptions in .htmlvalidate.cjs,
each with its reason. Runs where `make test` installed the npm tools.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.pages import collect

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = ROOT / "node_modules" / ".bin" / "html-validate"
pytestmark = pytest.mark.skipif(
    not VALIDATOR.exists(), reason="html-validate is not installed (make test runs npm ci)"
)


def test_every_page_is_valid_html(app, client, tmp_path):
    pages = collect(app, client)
    assert len(pages) >= 25
    files = {}
    for i, (label, html) in enumerate(sorted(pages.items())):
        path = tmp_path / f"{i:03d}-{re.sub(r'[^a-z0-9]+', '-', label.lower())[:60]}.html"
        path.write_text(html)
        files[str(path)] = label
    # The report goes to a file: node cuts a long piped output short when it exits.
    out = tmp_path / "report.json"
    result = subprocess.run(  # noqa: S603 - our own files, a fixed tool
        [str(VALIDATOR), "--config", str(ROOT / ".htmlvalidate.cjs"), "--formatter",
         f"json={out}", *files], capture_output=True, text=True, cwd=ROOT, timeout=300,
        check=False,
    )  # fmt: skip
    report = json.loads(out.read_text() or "[]")
    errors = [f"{files[r['filePath']]}:{m['line']}: {m['ruleId']}: {m['message']}"
              for r in report for m in r["messages"] if m["severity"] == 2]  # fmt: skip
    assert errors == [], f"{len(errors)} errors:\n" + "\n".join(errors[:60])
    assert result.returncode == 0, result.stderr[-2000:]
