"""Run the phases of ``make test`` side by side and print a time table at the end.

Usage: ``python tests/phases.py NAME=COMMAND ...``. Every phase runs at once in its own
process (the two database backends are independent: each makes its own databases), its
output goes to ``test-results/<name>.log``, and a failed phase's log is printed whole.
Exit status: 0 only when every phase passed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run each ``name=command`` phase in parallel; return 1 if any failed."""
    phases = [arg.split("=", 1) for arg in argv]
    out = Path("test-results")
    out.mkdir(exist_ok=True)
    started = time.monotonic()
    running = []
    for name, command in phases:
        log = (out / f"{name}.log").open("w")
        process = subprocess.Popen(  # noqa: S603 - the Makefile's own commands
            shlex.split(command), stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
        running.append((name, command, process, log, time.monotonic()))
    results = []
    for name, command, process, log, begun in running:
        code = process.wait()
        log.close()
        results.append((name, command, code, time.monotonic() - begun))
    failed = False
    for name, command, code, _ in results:
        text = (out / f"{name}.log").read_text(errors="replace")
        if code != 0:
            failed = True
            print(f"\n===== {name} FAILED (exit {code}): {command}\n{text}")
        else:
            tail = [line for line in text.splitlines() if line.strip()][-1:] or ["(no output)"]
            print(f"{name}: {tail[0]}")
    print("\nphase              seconds  result")
    for name, _, code, seconds in results:
        print(f"{name:<18} {seconds:7.1f}  {'ok' if code == 0 else 'FAILED'}")
    print(f"{'wall time':<18} {time.monotonic() - started:7.1f}")
    passed, failures = _pytest_totals(out, [name for name, _ in phases])
    if passed or failures:  # one closing line for both backends' pytest runs
        print(f"\ntests: {passed} passed, {failures} failed")
    return 1 if failed else 0


_SUMMARY = re.compile(r"^=*\s*\d+ (passed|failed|errors?|skipped|deselected)\b.* in [\d.]+s")


def _pytest_totals(out: Path, names: list[str]) -> tuple[int, int]:
    """Add up the passed and failed counts of pytest's closing lines in the phase logs."""
    passed = failures = 0
    for name in names:
        lines = (out / f"{name}.log").read_text(errors="replace").splitlines()
        summary = next((line for line in reversed(lines) if _SUMMARY.match(line)), "")
        passed += sum(int(n) for n in re.findall(r"(\d+) passed", summary))
        failures += sum(int(n) for n in re.findall(r"(\d+) (?:failed|error)", summary))
    return passed, failures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
