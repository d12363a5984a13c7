"""Metrics and request logs: the token, the figures, several workers, JSON lines."""

import json
import logging
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from tests.factories import TicketFactory
from tests.gunicorn_server import ROOT, get, gunicorn

TOKEN = "s3cret-scrape-token"


def _samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            found[key] = sample.value
    return found


def _value(samples, name, **labels):
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))  # fmt: skip


def _scrape(client):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return _samples(response.get_data(as_text=True))


def test_metrics_need_the_token_and_are_off_without_one(app, client):
    assert client.get("/metrics").status_code == 404  # no token configured
    app.config["METRICS_TOKEN"] = TOKEN
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_requests_statements_and_audit_rows_are_counted(app, agent_client):
    app.config["METRICS_TOKEN"] = TOKEN
    ticket = TicketFactory()
    before = _scrape(agent_client)
    agent_client.get("/tickets/")
    agent_client.get(f"/tickets/{ticket.number}")
    agent_client.get("/tickets/999999")
    agent_client.post(f"/tickets/{ticket.number}/comments", data={"body": "Counted"})
    after = _scrape(agent_client)

    def delta(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("supportdesk_http_requests_total", endpoint="tickets.index", status="200") == 1
    assert delta("supportdesk_http_requests_total", endpoint="tickets.detail", status="404") == 1
    assert delta("supportdesk_http_requests_total", endpoint="tickets.comment", method="POST",
                 status="303") == 1  # fmt: skip
    assert delta("supportdesk_http_request_duration_seconds_count", endpoint="tickets.index") == 1
    # Every answered request (the first scrape too) lands in the statements histogram.
    assert delta("supportdesk_db_statements_per_request_count") == 5
    assert delta("supportdesk_db_statements_per_request_sum") >= 4 + 8  # list + ticket page
    assert delta("supportdesk_audit_rows_written_total") == 1  # the comment


def test_slow_statements_are_counted_and_logged_without_parameters(app, agent_client, caplog):
    app.config["METRICS_TOKEN"] = TOKEN
    before = _scrape(agent_client)
    app.config["SLOW_QUERY_MS"] = 0  # every statement is "slow" now
    with caplog.at_level(logging.WARNING, logger="supportdesk.querystats"):
        response = agent_client.get("/tickets/", query_string={"q": "secret-customer@example.com"})
    app.config["SLOW_QUERY_MS"] = 200
    after = _scrape(agent_client)
    slow = _value(after, "supportdesk_db_slow_statements_total")
    statements = int(response.headers["X-DB-Query-Count"])
    # The request's statements plus the scrape's own (none: /metrics reads no table).
    assert slow - _value(before, "supportdesk_db_slow_statements_total") == statements
    lines = [r.getMessage() for r in caplog.records if r.name == "supportdesk.querystats"]
    assert len(lines) == statements
    assert all(m.startswith("slow query ") for m in lines)
    assert not any("secret-customer" in m for m in lines)


def test_json_logs_are_one_line_per_request_with_no_query_string(app, agent_client, caplog):
    from supportdesk import observability

    app.config["LOG_FORMAT"] = "json"
    observability.configure_logging(app)
    handler = next(h for h in logging.getLogger("supportdesk").handlers
                   if getattr(h, "supportdesk", False))  # fmt: skip
    try:
        with caplog.at_level(logging.INFO, logger="supportdesk"):
            response = agent_client.get("/tickets/", query_string={"q": "private words"})
        # The app's own stderr handler turns each record into one line of JSON.
        lines = [handler.format(r) for r in caplog.records if r.name == "supportdesk.request"]
    finally:
        app.config["LOG_FORMAT"] = "text"
        observability.configure_logging(app)
    assert len(lines) == 1
    assert "\n" not in lines[0]
    entry = json.loads(lines[0])
    assert entry["logger"] == "supportdesk.request"
    assert entry["level"] == "INFO"
    assert entry["request_id"] == response.headers["X-Request-ID"]
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/tickets/", 200)
    assert entry["user_id"] is not None
    assert entry["db_statements"] == int(response.headers["X-DB-Query-Count"])
    assert entry["duration_ms"] >= entry["db_ms"] >= 0
    assert "private" not in lines[0]
    assert re.match(r"\d{4}-\d\d-\d\d", entry["time"])


def test_several_gunicorn_workers_report_one_total(tmp_path):
    # A real gunicorn with 2 workers under 8 concurrent clients (so both workers answer):
    # every scrape, whichever worker answers it, counts all the health checks made here
    # (counted from a first scrape: the start-up probe may have been sent more than once
    # on a busy machine). Without multiprocess mode a scrape would see one worker's share.
    env = {"SUPPORTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'metrics.db'}",
           "SUPPORTDESK_SECRET_KEY": "x" * 40, "SUPPORTDESK_METRICS_TOKEN": TOKEN,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), "FLASK_APP": "wsgi:app"}  # fmt: skip
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, check=True,
                   env={**os.environ, **env}, capture_output=True)  # fmt: skip
    assert (tmp_path / "prom").is_dir()  # made by the CLI run, not left to fail
    with gunicorn(env, workers=2, log=tmp_path / "gunicorn.log") as server:
        url = server.url
        _, first = get(url + "/metrics", {"Authorization": f"Bearer {TOKEN}"})
        before = _value(_samples(first), "supportdesk_http_requests_total",
                        endpoint="health.health")  # fmt: skip
        sent = 0
        for _ in range(10):  # until both workers have answered (a busy machine may start
            # the second late), at most 1,000 checks
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda _: get(url + "/health")[0], range(100)))
            assert codes == [200] * 100
            sent += 100
            if len(_workers(tmp_path / "prom")) == 2 and sent >= 200:
                break
        totals = set()
        for _ in range(6):
            status, text = get(url + "/metrics", {"Authorization": f"Bearer {TOKEN}"})
            assert status == 200
            samples = _samples(text)
            totals.add(_value(samples, "supportdesk_http_requests_total", endpoint="health.health")
                       - before)  # fmt: skip
            assert _value(samples, "supportdesk_db_pool_size") >= 0
    assert totals == {sent}
    assert len(_workers(tmp_path / "prom")) == 2


def _workers(folder):
    return {f.stem.rsplit("_", 1)[-1] for f in folder.glob("counter_*.db")}
