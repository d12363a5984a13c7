import logging

from supportdesk import web
from tests.conftest import make_app


def test_unhandled_error_shows_the_500_page_without_a_trace(tmp_path, monkeypatch, caplog):
    app = make_app(f"sqlite:///{tmp_path}/x.db", tmp_path, TESTING=False)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(web, "PUBLIC_ENDPOINTS", web.PUBLIC_ENDPOINTS | {"boom"})
    with caplog.at_level(logging.ERROR, logger="supportdesk.errors"):
        response = app.test_client().get("/boom", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "Something went wrong" in text
    assert "req-42" in text
    assert "secret internals" not in text
    assert "Traceback" not in text
    assert "unhandled error (request req-42)" in caplog.text


def test_request_id_is_echoed_or_generated(client):
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    generated = client.get("/health", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert len(generated) == 32
    assert generated.isalnum()


def test_a_nul_character_in_any_field_is_a_400_not_a_500(agent_client):
    assert agent_client.get("/tickets/?q=a%00b").status_code == 400
    response = agent_client.post("/tickets/new", data={"title": "x\x00", "description": "d"})
    assert response.status_code == 400
    assert "NUL character" in response.text
