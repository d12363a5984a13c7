import pytest

from supportdesk import create_app
from supportdesk.version import __version__


def test_health_answers_without_login(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": __version__}
    assert response.headers["X-DB-Query-Count"] == "0"
    assert response.headers["Server-Timing"].startswith("app;dur=")


def test_server_timing_splits_a_page_into_sql_view_templates_and_rest(agent_client):
    from bench.report import parse_server_timing
    from tests.factories import TicketFactory

    ticket = TicketFactory()
    response = agent_client.get(f"/tickets/{ticket.number}")
    assert response.status_code == 200
    parts = parse_server_timing(response.headers["Server-Timing"])
    assert set(parts) == {"app", "db", "view", "tpl", "rest"}
    assert parts["db"] > 0
    assert parts["tpl"] > 0
    assert abs(parts["db"] + parts["view"] + parts["tpl"] + parts["rest"] - parts["app"]) < 0.05
    # Every part is the request's own: SQL time is the X-DB-Query-Time-Ms figure.
    assert parts["db"] == float(response.headers["X-DB-Query-Time-Ms"])


def test_database_health_reports_the_pool_to_monitoring_and_admins_only(
    app, monkeypatch, admin_client
):
    client = app.test_client()  # anonymous
    response = client.get("/health/database")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}  # anonymous: no pool figures (#18, 14)
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "m" * 40)
    body = client.get("/health/database", headers={"Authorization": "Bearer " + "m" * 40}
                      ).get_json()  # fmt: skip
    assert body["status"] == "ok"
    assert set(body["pool"]) == {"size", "checked_in", "checked_out", "overflow"}
    assert body["pool"]["size"] == 5
    assert "pool" in admin_client.get("/health/database").get_json()


@pytest.fixture
def unreachable_app(tmp_path):
    return create_app(
        {
            "DATABASE_URL": "postgresql+psycopg2://nobody:s3cret@127.0.0.1:9/none",
            "SECRET_KEY": "x",
            "ENV": "testing",
        }
    )


def test_database_health_is_503_without_credentials_when_unreachable(unreachable_app):
    response = unreachable_app.test_client().get("/health/database")
    assert response.status_code == 503
    body = response.get_json()
    assert body == {"status": "unavailable", "reason": "database unreachable"}
    text = response.get_data(as_text=True)
    assert "s3cret" not in text
    assert "nobody" not in text


def test_pages_answer_503_with_retry_after_when_database_is_down(unreachable_app):
    client = unreachable_app.test_client()
    client.application.config["WTF_CSRF_ENABLED"] = False
    assert client.get("/login").status_code == 200  # the form needs no database
    response = client.post("/login", data={"email": "a@b.c", "password": "x" * 12})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    text = response.get_data(as_text=True)
    assert "The desk is busy" in text
    assert "Traceback" not in text
    assert "psycopg2" not in text
