"""`make profile`: where each bench page's server time goes, as pyinstrument flame graphs.

Uses the bench database (seeded by `make bench`, or seeded here the same way), serves the
scenarios in-process through Flask's test client (no network, no load driver: only the
app's own work is sampled) and writes, per scenario, ``bench/profiles/<name>.html`` (an
interactive flame graph) and ``<name>.txt`` (the call tree as text), plus the
``Server-Timing`` split of the profiled requests.

Settings (environment): as `make bench`, and PROFILE_REQUESTS (300 per scenario),
PROFILE_SCENARIOS (comma-separated; the page scenarios by default), PROFILE_SHOW_ALL=1
(library frames in the text tree too). The HTML files are large (tens of MB) and not
committed; the text trees are.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyinstrument import Profiler  # noqa: E402

from bench.report import SPLIT_PARTS, parse_server_timing, percentile  # noqa: E402
from bench.run import (  # noqa: E402
    EMAIL,
    PASSWORD,
    app_env,
    choose_inputs,
    log,
    prepare_database,
    scenario_paths,
)

REQUESTS = int(os.environ.get("PROFILE_REQUESTS", "300"))
SCENARIOS = tuple(os.environ.get("PROFILE_SCENARIOS", "").split(",") if os.environ.get(
    "PROFILE_SCENARIOS") else ("list", "list_filtered", "list_deep", "ticket", "edit", "comment",
                               "search_rare"))  # fmt: skip
SHOW_ALL = os.environ.get("PROFILE_SHOW_ALL") == "1"
# PROFILE_TIMING_ONLY=1: no profiler, only the Server-Timing split (the profiler's own
# overhead inflates Python-heavy parts several times over).
TIMING_ONLY = os.environ.get("PROFILE_TIMING_ONLY") == "1"  # library frames too, in the text tree
OUT = ROOT / "bench" / "profiles"


def main() -> int:
    database_url, _ = prepare_database()
    inputs = choose_inputs(database_url, floors=False)
    os.environ.update({k: v for k, v in app_env(database_url).items()
                       if k.startswith("SUPPORTDESK_")})  # fmt: skip
    from supportdesk import create_app

    app = create_app({"WTF_CSRF_ENABLED": False})
    client = app.test_client()
    response = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    paths = scenario_paths(inputs)
    versions: dict[int, int] = {}

    def edit(i: int) -> Any:
        number = inputs.edit_numbers[i % len(inputs.edit_numbers)]
        if number not in versions:
            page = client.get(f"/tickets/{number}/edit").text
            match = re.search(r'name="version" type="hidden" value="(\d+)"', page)
            assert match is not None
            versions[number] = int(match.group(1))
        status = "in_progress" if versions[number] % 2 else "open"
        response = client.post(f"/tickets/{number}/edit", data={
            "title": f"Bench edit {number}", "description": "bench", "status": status,
            "priority": "medium", "assignee": "", "version": versions[number]})  # fmt: skip
        versions[number] += 1
        return response

    def send(name: str, i: int) -> Any:
        if name == "edit":
            return edit(i)
        if name == "comment":
            number = inputs.comment_numbers[i % len(inputs.comment_numbers)]
            return client.post(f"/tickets/{number}/comments",
                               data={"body": f"profile note {i}", "is_internal": "y"})  # fmt: skip
        return client.get(paths[name])

    OUT.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    for name in SCENARIOS:
        for i in range(30):  # warm caches, compiled templates and the connection pool
            assert send(name, i).status_code in (200, 303), name
        profiler = Profiler(interval=0.001)
        splits: list[dict[str, float]] = []
        if not TIMING_ONLY:
            profiler.start()
        for i in range(30, 30 + REQUESTS):
            response = send(name, i)
            splits.append(parse_server_timing(response.headers.get("Server-Timing", "")))
        if not TIMING_ONLY:
            profiler.stop()
            (OUT / f"{name}.html").write_text(profiler.output_html())
            (OUT / f"{name}.txt").write_text(
                profiler.output_text(unicode=True, color=False, show_all=SHOW_ALL)
            )
        summary[name] = {
            part: round(percentile([s.get(part, 0.0) for s in splits], 50), 2)
            for part in ("app", *SPLIT_PARTS)
        }
        log(f"{name}: {summary[name]}")
    if not TIMING_ONLY:
        (OUT / "split.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"flame graphs in {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
