"""`make bench-chart`: how each page's server time grows with the desk, as an SVG and a table.

Reads every ``bench/results/*.json``, keeps the latest run of each desk size (by the
number of tickets, rounded to 2 significant digits: 1,010,736 is the 1M desk), and writes
``docs/scaling.svg`` and ``docs/scaling-growing.svg`` (server p50 per scenario against desk
size, log scale: the pages that must stay flat, then those that may grow; the live
report, tens of times the rest, is in the table only) and the table
between the ``scaling`` markers of ``docs/benchmarks.md``. Runs for the sizes come from
``BENCH_TICKETS=100000 make bench``, ``make bench`` and ``BENCH_TICKETS=5000000 make bench``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SVG = ROOT / "docs" / "scaling.svg"
GROWING_SVG = ROOT / "docs" / "scaling-growing.svg"
DOC = ROOT / "docs" / "benchmarks.md"
# The pages that must stay flat, then those allowed to grow (searches, reports).
FLAT = ("list", "list_deep", "ticket", "edit", "comment")
GROWING = ("list_filtered", "search_rare", "search_common", "reports", "reports_live")
COLOURS = {
    "list": "#1f6feb", "list_deep": "#6e40c9", "ticket": "#1a7f37", "edit": "#bf8700",
    "comment": "#cf222e", "list_filtered": "#0a7d8c", "search_rare": "#8250df",
    "search_common": "#953800", "reports": "#57606a", "reports_live": "#24292f",
}  # fmt: skip


def size_of(tickets: int) -> int:
    """Round a desk's ticket count to 2 significant digits (its nominal size)."""
    if tickets <= 0:
        return 0
    digits = int(math.floor(math.log10(tickets))) - 1
    return int(round(tickets, -digits))


def latest_runs(folder: Path) -> dict[int, dict[str, Any]]:
    """Return the latest run of each desk size, by the stamp in its file name."""
    runs: dict[int, tuple[str, dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        size = size_of(int(data.get("dataset", {}).get("tickets", 0)))
        if size and (size not in runs or path.stem > runs[size][0]):
            runs[size] = (path.stem, data)
    return {size: data for size, (_, data) in sorted(runs.items())}


def server_p50(run: dict[str, Any]) -> dict[str, float]:
    """Return each scenario's server p50 (ms) in a run."""
    return {s["name"]: float(s["server_p50_ms"]) for s in run["scenarios"]
            if isinstance(s.get("server_p50_ms"), int | float)
            and not math.isnan(s["server_p50_ms"])}  # fmt: skip


def label(size: int) -> str:
    """Return 100k, 1M, 5M, ..."""
    return f"{size / 1_000_000:g}M" if size >= 1_000_000 else f"{size / 1000:g}k"


def render_svg(runs: dict[int, dict[str, Any]], names: tuple[str, ...], title: str) -> str:
    """Return an SVG line chart: one line per scenario, desk size on a log scale."""
    width, height, left, right, top, bottom = 720, 300, 56, 130, 28, 40
    sizes = list(runs)
    values = {size: server_p50(run) for size, run in runs.items()}
    peak = max([values[s].get(n, 0.0) for s in sizes for n in names] + [1.0])
    step = _nice_step(peak / 5)
    y_max = step * math.ceil(peak / step)
    lo, hi = math.log10(sizes[0]), math.log10(sizes[-1]) if len(sizes) > 1 else 1.0

    def x(size: int) -> float:
        span = hi - lo or 1.0
        return left + (math.log10(size) - lo) / span * (width - left - right)

    def y(value: float) -> float:
        return top + (1 - value / y_max) * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'role="img" aria-labelledby="t d" font-family="system-ui, sans-serif" '
           f'font-size="12">',
           f'<title id="t">{escape(title)}</title>',
           '<desc id="d">Server time (p50, ms) of each scenario at each desk size; the '
           'figures are in the table beside this chart in docs/benchmarks.md.</desc>',
           '<rect width="100%" height="100%" fill="#ffffff"/>']  # fmt: skip
    tick = 0.0
    while tick <= y_max + 1e-9:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                   f'y2="{y(tick):.1f}" stroke="#d0d7de"/>')  # fmt: skip
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                   f'fill="#57606a">{tick:g}</text>')  # fmt: skip
        tick += step
    for size in sizes:
        out.append(f'<text x="{x(size):.1f}" y="{height - bottom + 18}" text-anchor="middle" '
                   f'fill="#57606a">{label(size)} tickets</text>')  # fmt: skip
    out.append(f'<text x="14" y="{top + (height - top - bottom) / 2:.0f}" fill="#57606a" '
               f'transform="rotate(-90 14 {top + (height - top - bottom) / 2:.0f})" '
               f'text-anchor="middle">server p50, ms</text>')  # fmt: skip
    labels: list[tuple[float, str, str]] = []
    for name in names:
        points = [(x(s), y(values[s][name])) for s in sizes if name in values[s]]
        if not points:
            continue
        colour = COLOURS.get(name, "#000000")
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"/>')  # fmt: skip
        for px, py in points:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
        labels.append((points[-1][1], name, colour))
    # Labels at their line's end, 13 px apart, moved up as a block if they overflow.
    labels.sort()
    placed: list[float] = []
    for ly, _, _ in labels:
        placed.append(max(ly, placed[-1] + 13) if placed else ly)
    overflow = (placed[-1] - (height - bottom)) if placed else 0
    if overflow > 0:
        placed = [p - overflow for p in placed]
    for (_, name, colour), ly in zip(labels, placed, strict=True):
        out.append(f'<text x="{width - right + 8}" y="{ly + 4:.1f}" fill="{colour}">'
                   f'{escape(name)}</text>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _nice_step(raw: float) -> float:
    """Return 1, 2 or 5 times a power of ten, at least ``raw``."""
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)


def render_table(runs: dict[int, dict[str, Any]]) -> str:
    """Return the Markdown table: server p50 per size, and largest ÷ smallest."""
    sizes = list(runs)
    values = {size: server_p50(run) for size, run in runs.items()}
    head = "| scenario | " + " | ".join(f"{label(s)} ms" for s in sizes) + " | growth |"
    rule = "|---|" + "---|" * len(sizes) + "---|"
    rows = []
    for name in (*FLAT, *GROWING):
        cells = [values[s].get(name) for s in sizes]
        if all(c is None for c in cells):
            continue
        first, last = cells[0], cells[-1]
        growth = f"{last / first:.2f}×" if first and last else "n/a"
        rows.append(f"| {name} | " + " | ".join("n/a" if c is None else f"{c:.1f}" for c in cells)
                    + f" | {growth} |")  # fmt: skip
    return "\n".join([head, rule, *rows])


def main() -> int:
    runs = latest_runs(RESULTS)
    if len(runs) < 2:
        print("need bench results at two desk sizes at least (see the docstring)",
              file=sys.stderr)  # fmt: skip
        return 1
    SVG.write_text(render_svg(runs, FLAT, "Server time of the pages that must stay flat"))
    GROWING_SVG.write_text(render_svg(runs, GROWING[:-1], "Server time of searches, the "
                                      "filtered list and shared reports"))  # fmt: skip
    table = render_table(runs)
    text = DOC.read_text()
    start, end = "<!-- scaling:start -->", "<!-- scaling:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        DOC.write_text(f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
