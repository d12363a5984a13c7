"""Benchmark figures: percentiles, one row per scenario, the table and the files."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

COLUMNS = (
    ("name", "scenario", "{}"),
    ("rps", "req/s", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p95_ms", "p95 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("errors", "errors", "{}"),
    ("statements_per_request", "SQL stmts", "{:.1f}"),
    ("sql_ms_per_request", "SQL ms", "{:.2f}"),
    ("server_p50_ms", "server p50 ms", "{:.1f}"),
    ("floor_ms", "floor ms", "{:.2f}"),
    ("ratio_to_floor", "server/floor", "{:.2f}"),
)


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) by the nearest-rank method."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Scenario:
    """The figures of one scenario."""

    name: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    statements_per_request: float
    sql_ms_per_request: float
    server_p50_ms: float
    floor_ms: float
    ratio_to_floor: float
    # Median server time per part of the app's Server-Timing (db, view, tpl, rest):
    # where a page's time goes, without the load driver's queueing.
    split_ms: dict[str, float] = field(default_factory=dict)


def summarize(
    name: str,
    latencies_ms: Sequence[float],
    *,
    seconds: float,
    errors: int,
    statements: Sequence[int],
    sql_ms: Sequence[float],
    server_ms: Sequence[float],
    floor_ms: float,
    splits: Sequence[dict[str, float]] = (),
) -> Scenario:
    """Turn raw measurements into a :class:`Scenario`.

    ``latencies_ms`` are seen by the load driver (queueing included); ``server_ms`` come
    from the app's ``Server-Timing`` header, and the ratio to the raw-SQL floor uses
    those: it is what Flask, the ORM and Jinja add to the page's SQL.
    """
    p50 = percentile(latencies_ms, 50)
    server_p50 = percentile(server_ms, 50)
    mean = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
    return Scenario(
        name=name,
        requests=len(latencies_ms),
        seconds=round(seconds, 2),
        rps=len(latencies_ms) / seconds if seconds > 0 else math.nan,
        p50_ms=p50,
        p95_ms=percentile(latencies_ms, 95),
        p99_ms=percentile(latencies_ms, 99),
        errors=errors,
        statements_per_request=mean(statements),
        sql_ms_per_request=mean(sql_ms),
        server_p50_ms=server_p50,
        floor_ms=floor_ms,
        ratio_to_floor=server_p50 / floor_ms if floor_ms > 0 else math.nan,
        split_ms={
            part: percentile([split.get(part, 0.0) for split in splits], 50) for part in SPLIT_PARTS
        }
        if splits
        else {},  # fmt: skip
    )


SPLIT_PARTS = ("db", "view", "tpl", "rest")


def parse_server_timing(header: str) -> dict[str, float]:
    """Return ``{"app": 12.3, "db": 2.1, ...}`` from a ``Server-Timing`` header value."""
    parts: dict[str, float] = {}
    for metric in header.split(","):
        name, _, params = metric.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                with contextlib.suppress(ValueError):
                    parts[name.strip()] = float(value)
    return parts


def render_split_table(scenarios: Sequence[Scenario]) -> str:
    """Return the server time split (median ms per part, and each part's share)."""
    titles = {"db": "SQL", "view": "view (ORM rows, forms, logic)", "tpl": "templates",
              "rest": "rest (hooks, session, routing)"}  # fmt: skip
    header = "| scenario | server p50 ms | " + " | ".join(titles[p] for p in SPLIT_PARTS) + " |"
    rule = "|---|---|" + "|".join("---" for _ in SPLIT_PARTS) + "|"
    rows = []
    for scenario in scenarios:
        if not scenario.split_ms:
            continue
        total = sum(scenario.split_ms.values()) or math.nan
        cells = [f"{scenario.split_ms[p]:.2f} ({scenario.split_ms[p] / total:.0%})"
                 for p in SPLIT_PARTS]  # fmt: skip
        rows.append(f"| {scenario.name} | {scenario.server_p50_ms:.1f} | " + " | ".join(cells)
                    + " |")  # fmt: skip
    return "\n".join([header, rule, *rows])


def render_table(scenarios: Sequence[Scenario]) -> str:
    """Return a Markdown table, one row per scenario."""
    header = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    rows = []
    for scenario in scenarios:
        values = asdict(scenario)
        cells = []
        for key, _, fmt in COLUMNS:
            value = values[key]
            is_nan = isinstance(value, float) and math.isnan(value)
            cells.append("n/a" if is_nan else fmt.format(value))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows])


def write_results(
    folder: Path, *, stamp: str, meta: dict[str, Any], scenarios: Sequence[Scenario]
) -> tuple[Path, Path]:
    """Write ``<stamp>.json`` and ``latest.md`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = dict(meta, scenarios=[asdict(s) for s in scenarios])
    json_path = folder / f"{stamp}.json"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path = folder / "latest.md"
    lines = [
        f"Benchmark {stamp}: {meta['dataset']['tickets']:,} tickets, "
        f"{meta['settings']['workers']} gunicorn workers, concurrency "
        f"{meta['settings']['concurrency']}, {meta['settings']['duration_s']} s per scenario "
        f"after {meta['settings']['warmup_s']} s warm-up. Seeding: "
        + (f"{meta['seed_seconds']:.0f} s" if meta.get("seed_seconds") else "reused")
        + f". Peak worker RSS: {meta['worker_rss_mb']:.0f} MB.",
        "",
        render_table(scenarios),
        "",
        "Server time split (median ms of each part of the app's `Server-Timing` header):",
        "",
        render_split_table(scenarios),
        "",
    ]
    md_path.write_text("\n".join(lines))
    return json_path, md_path


def update_readme(readme: Path, markdown: str) -> bool:
    """Replace the text between the page's bench markers; return whether it did."""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{markdown}\n{end}{tail}")
    return True
