import re

import pytest

from supportdesk.extensions import db
from supportdesk.models import User
from tests.factories import UserFactory

PASSWORD = "correct horse battery"


def test_login_with_valid_credentials_lands_on_the_ticket_list(client, agent):
    response = client.post("/login", data={"email": agent.email, "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/tickets/"
    page = client.get("/tickets/")
    assert page.status_code == 200
    assert "Ana Agent" in page.get_data(as_text=True)
    db.session.refresh(agent)
    assert agent.last_login_at is not None


def test_login_ignores_email_case(client, agent):
    response = client.post("/login", data={"email": agent.email.upper(), "password": PASSWORD})
    assert response.status_code == 303


@pytest.mark.parametrize("password", ["wrong password!", ""])
def test_login_with_wrong_password_is_refused_and_keeps_the_email(client, agent, password):
    response = client.post("/login", data={"email": agent.email, "password": password})
    assert response.status_code in (200, 401)
    text = response.get_data(as_text=True)
    assert f'value="{agent.email}"' in text
    assert client.get("/tickets/").status_code == 302


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, agent):
    wrong = client.post("/login", data={"email": agent.email, "password": "x" * 14})
    unknown = client.post("/login", data={"email": "ghost@example.com", "password": "x" * 14})
    assert wrong.status_code == unknown.status_code == 401
    message = "Email or password is wrong, or the account is disabled."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)


def test_inactive_user_cannot_log_in(client):
    user = UserFactory(is_active=False)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401
    assert client.get("/tickets/").status_code == 302


def test_deactivated_user_loses_an_open_session(client, agent, login_as):
    login_as(agent)
    db.session.get(User, agent.id).is_active = False
    assert client.get("/tickets/").status_code == 302


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/users/", "/users/"),
        ("/tickets/?status=open", "/tickets/?status=open"),
        ("https://evil.example/", "/tickets/"),
        ("//evil.example/", "/tickets/"),
        ("/\\evil.example", "/tickets/"),
        ("javascript:alert(1)", "/tickets/"),
    ],
)
def test_next_is_honoured_only_for_local_paths(client, agent, next_url, expected):
    response = client.post(
        "/login", query_string={"next": next_url}, data={"email": agent.email, "password": PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == expected


def test_logout_is_a_post_and_ends_the_session(agent_client):
    assert agent_client.get("/logout").status_code == 405
    response = agent_client.post("/logout")
    assert response.status_code == 303
    assert agent_client.get("/tickets/").status_code == 302


def test_post_without_csrf_token_gets_a_400_page(client, agent):
    response = client.post("/login", data={"email": agent.email, "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "security token" in text
    assert "Traceback" not in text


def test_post_with_forged_csrf_token_gets_a_400_page(client, agent):
    data = {"email": agent.email, "password": PASSWORD, "csrf_token": "forged"}
    assert client.post("/login", data=data).status_code == 400


def test_every_page_requires_login_except_login_and_health(app, client):
    public = {"/login", "/login/code", "/password/forgot", "/password/reset/<token>",
              "/health", "/health/database", "/health/worker",
              "/metrics",  # metrics: a bearer token
              "/.well-known/security.txt"}  # fmt: skip
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            checked += 1
            if rule.rule in ("/api/v1/openapi.json", "/api/v1/docs"):
                assert response.status_code == 200, (method, url)  # the public contract
            elif rule.rule.startswith("/api/"):
                assert response.status_code == 401, (method, url)  # a token, never a cookie
            elif rule.rule in public:
                assert response.status_code != 302, (method, url)
            elif method == "GET":
                assert response.status_code == 302, (method, url)
                assert response.headers["Location"].startswith("/login?next="), (method, url)
            else:
                assert response.status_code in (302, 400), (method, url)
    assert checked >= 5


def test_admin_pages_are_403_for_agents(agent_client):
    response = agent_client.get("/users/")
    assert response.status_code == 403
    assert "for admins" in response.get_data(as_text=True)


def test_admins_see_the_staff_page(admin_client, agent):
    response = admin_client.get("/users/")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert agent.email in text
    assert response.headers["X-DB-Query-Count"] == "2"  # the admin, then the staff list


def test_unknown_page_renders_the_404_template(agent_client):
    response = agent_client.get("/no/such/page")
    assert response.status_code == 404
    assert "Back to the tickets" in response.get_data(as_text=True)


def test_oversized_request_gets_a_413_page(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/login", data={"email": "a@b.c", "password": "x" * (limit + 1)})
    assert response.status_code == 413
    assert "Traceback" not in response.get_data(as_text=True)
