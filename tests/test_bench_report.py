import json
import math

from bench.report import percentile, render_table, summarize, update_readme, write_results


def test_percentile_uses_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_summarize_and_table():
    scenario = summarize(
        "list",
        [10.0, 20.0, 30.0, 40.0],
        seconds=2.0,
        errors=1,
        statements=[4, 4, 4, 4],
        sql_ms=[2.0, 3.0, 2.0, 3.0],
        server_ms=[8.0, 10.0, 12.0, 30.0],
        floor_ms=5.0,
    )
    assert scenario.rps == 2.0
    assert scenario.p50_ms == 20.0
    assert scenario.p99_ms == 40.0
    assert scenario.statements_per_request == 4
    assert scenario.sql_ms_per_request == 2.5
    assert scenario.server_p50_ms == 10.0
    assert scenario.ratio_to_floor == 2.0
    table = render_table([scenario])
    lines = table.splitlines()
    assert lines[0].startswith("| scenario | req/s | p50 ms")
    assert lines[2] == "| list | 2.0 | 20.0 | 40.0 | 40.0 | 1 | 4.0 | 2.50 | 10.0 | 5.00 | 2.00 |"


def test_missing_floor_renders_as_not_available():
    scenario = summarize(
        "x", [1.0], seconds=1, errors=0, statements=[], sql_ms=[], server_ms=[], floor_ms=0
    )
    assert "n/a" in render_table([scenario])


def test_results_files_and_readme(tmp_path):
    scenario = summarize("ticket", [5.0], seconds=1, errors=0, statements=[5], sql_ms=[1.0],
                         server_ms=[2.0], floor_ms=1.0)  # fmt: skip
    meta = {
        "dataset": {"tickets": 1000},
        "settings": {"workers": 2, "concurrency": 4, "duration_s": 15, "warmup_s": 3},
        "seed_seconds": None,
        "worker_rss_mb": 80.4,
    }
    json_path, md_path = write_results(tmp_path, stamp="20261122-abc", meta=meta,
                                       scenarios=[scenario])  # fmt: skip
    data = json.loads(json_path.read_text())
    assert data["scenarios"][0]["name"] == "ticket"
    expected = {"rps", "p50_ms", "p95_ms", "p99_ms", "errors", "statements_per_request",
                "sql_ms_per_request", "floor_ms", "ratio_to_floor"}  # fmt: skip
    assert expected <= set(data["scenarios"][0])
    assert "Seeding: reused" in md_path.read_text()
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:start -->\nold\n<!-- bench:end -->\nrest\n")
    assert update_readme(readme, "NEW TABLE")
    assert (
        readme.read_text() == "intro\n<!-- bench:start -->\nNEW TABLE\n<!-- bench:end -->\nrest\n"
    )


def test_server_timing_split_is_parsed_and_tabled():
    from bench.report import parse_server_timing, render_split_table

    header = "app;dur=10.00, db;dur=2.50, view;dur=3.00, tpl;dur=4.00, rest;dur=0.50"
    timing = parse_server_timing(header)
    assert timing == {"app": 10.0, "db": 2.5, "view": 3.0, "tpl": 4.0, "rest": 0.5}
    assert parse_server_timing("app;desc=x, db;dur=oops") == {}
    server = [timing.pop("app")]
    scenario = summarize("list", [12.0], seconds=1, errors=0, statements=[4], sql_ms=[2.5],
                         server_ms=server, floor_ms=2.0, splits=[timing])  # fmt: skip
    assert scenario.split_ms == {"db": 2.5, "view": 3.0, "tpl": 4.0, "rest": 0.5}
    row = render_split_table([scenario]).splitlines()[2]
    assert row == "| list | 10.0 | 2.50 (25%) | 3.00 (30%) | 4.00 (40%) | 0.50 (5%) |"


def test_scaling_keeps_the_latest_run_per_desk_size_and_charts_it(tmp_path):
    import xml.etree.ElementTree as ET

    from bench.scaling import FLAT, latest_runs, render_svg, render_table, size_of

    assert (size_of(1_010_736), size_of(100_000), size_of(4_999_000)) == (
        1_000_000, 100_000, 5_000_000)  # fmt: skip

    def run(stamp, tickets, list_ms):
        scenarios = [{"name": "list", "server_p50_ms": list_ms},
                     {"name": "ticket", "server_p50_ms": float("nan")}]  # fmt: skip
        data = {"dataset": {"tickets": tickets}, "scenarios": scenarios}
        (tmp_path / f"{stamp}.json").write_text(json.dumps(data))

    run("20261130-010000-a", 100_000, 9.0)
    run("20261130-020000-b", 1_001_300, 11.0)
    run("20261130-030000-c", 1_010_736, 12.0)  # the later 1M run wins
    runs = latest_runs(tmp_path)
    assert list(runs) == [100_000, 1_000_000]
    table = render_table(runs).splitlines()
    assert table[0] == "| scenario | 100k ms | 1M ms | growth |"
    assert table[2] == "| list | 9.0 | 12.0 | 1.33× |"
    assert not any(line.startswith("| ticket") for line in table)  # no figure: no row
    svg = ET.fromstring(render_svg(runs, FLAT, "title"))  # noqa: S314 - our own output
    assert svg.find("{http://www.w3.org/2000/svg}title").text == "title"
    assert len(svg.findall("{http://www.w3.org/2000/svg}polyline")) == 1
