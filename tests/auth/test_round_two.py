"""Security round two (#18): regression tests for the findings fixed so far."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import PASSWORD


@pytest.mark.parametrize("target", ["/tickets/\r\nSet-Cookie: x=1", "/tickets/\n", "/a\x00b",
                                    "/a\x7fb", "/a\u2028b", "/a\tb"])  # fmt: skip
def test_control_characters_in_next_are_refused_not_a_500(client, agent, target):
    response = client.post(f"/login?next={quote(target)}",
                           data={"email": agent.email, "password": PASSWORD})  # fmt: skip
    if "\x00" in target:  # refused before the login (the app's guard against NUL bytes)
        assert response.status_code == 400
        return
    assert response.status_code == 303
    assert response.headers["Location"] == "/tickets/"


def test_a_csrf_token_planted_before_login_is_refused_after_it(client, agent):
    client.get("/login")
    planted = client.csrf_token()  # what an attacker fixed in the victim's session
    client.post("/login", data={"email": agent.email, "password": PASSWORD})
    response = client.post("/tickets/new", csrf=False, data={
        "csrf_token": planted, "title": "x", "description": "y", "requester": "a@example.org",
    })  # fmt: skip
    assert response.status_code == 400
    assert client.get("/tickets/").status_code == 200  # still logged in


def test_validating_patterns_match_the_whole_value_not_up_to_a_trailing_newline(admin_client):
    # "$" matches before a final newline: "#aabbcc\n" passed the check, then broke (500).
    response = admin_client.post("/tags/new", data={"name": "Outage", "colour": "#aabbcc\n"})
    assert response.status_code == 422  # the form again, with the error
    assert "Use the form #1a2b3c." in response.text
    assert admin_client.get("/tickets/", query_string={"assignee": "me\n"}).status_code == 200
    assert admin_client.get("/reports/", query_string={"assignee": "1\n"}).status_code in (200, 400)


@pytest.mark.parametrize(("path", "args"), [
    ("/tickets/", {"created_to": "9999-12-31"}),
    ("/tickets/", {"created_from": "0001-01-01"}),
    ("/tickets/export.csv", {"created_to": "9999-12-31"}),
    ("/reports/", {"date_from": "9999-12-31"}),
    ("/reports/", {"date_to": "0001-01-01"}),
    ("/audit/", {"until": "9999-12-31"}),
    ("/audit/export.csv", {"until": "9999-12-31"}),
])  # fmt: skip
def test_dates_far_outside_the_range_are_named_and_ignored(admin_client, path, args):
    response = admin_client.get(path, query_string=args)
    if path == "/tickets/export.csv":  # an export is exactly what was asked for, or refused
        assert response.status_code == 400
        return
    assert response.status_code == 200
    if not path.endswith(".csv"):
        assert "Give a date between 1970-01-01 and 9998-12-31." in response.text
