"""Every API operation × every kind of caller, against an explicit expected matrix.

Callers: no token, a read, a write and an admin-scope token of an admin, and write tokens
of an agent and of an admin. A new operation fails this test until it is added here.
"""

from __future__ import annotations

import pytest

from supportdesk.users.models import TokenScope
from tests.factories import TicketFactory, UserFactory

READ, WRITE, ADMIN = "read", "write", "admin"
# operation id -> (method, path, the scope it needs)
OPERATIONS = {
    "api_list_tickets": ("GET", "/api/v1/tickets", READ),
    "api_create_ticket": ("POST", "/api/v1/tickets", WRITE),
    "api_get_ticket": ("GET", "/api/v1/tickets/{number}", READ),
    "api_update_ticket": ("PATCH", "/api/v1/tickets/{number}", WRITE),
    "api_delete_ticket": ("DELETE", "/api/v1/tickets/{number}", WRITE),
    "api_list_comments": ("GET", "/api/v1/tickets/{number}/comments", READ),
    "api_add_comment": ("POST", "/api/v1/tickets/{number}/comments", WRITE),
    "api_list_tags": ("GET", "/api/v1/tags", READ),
    "api_list_users": ("GET", "/api/v1/users", READ),
    "api_me": ("GET", "/api/v1/me", READ),
    "api_list_customers": ("GET", "/api/v1/customers", READ),
    "api_get_customer": ("GET", "/api/v1/customers/{customer_id}", READ),
    "api_list_audit": ("GET", "/api/v1/audit", ADMIN),
    "api_get_report": ("GET", "/api/v1/reports", READ),
}
RANK = {READ: 0, WRITE: 1, ADMIN: 2}
# caller -> (is admin, token scope or None)
CALLERS = {
    "anonymous": (False, None),
    "admin read": (True, TokenScope.READ),
    "admin write": (True, TokenScope.WRITE),
    "admin admin": (True, TokenScope.ADMIN),
    "agent read": (False, TokenScope.READ),
    "agent write": (False, TokenScope.WRITE),
}


def test_the_matrix_covers_every_operation(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {op["operationId"]: (method.upper(), path)
                  for path, ops in spec["paths"].items()
                  for method, op in ops.items() if method != "parameters"}  # fmt: skip
    assert documented == {k: (m, p) for k, (m, p, _) in OPERATIONS.items()}


def _body(operation: str) -> dict | None:
    if operation == "api_create_ticket":
        return {"title": "Matrix", "description": "d", "requester": "m@example.org"}
    if operation == "api_add_comment":
        return {"body": "A note", "internal": True}
    if operation == "api_update_ticket":
        return {"priority": "high"}
    return None


@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_operation_answers_as_the_matrix_says(api_as, caller):
    is_admin, scope = CALLERS[caller]
    api = api_as(UserFactory(admin=is_admin), scope)
    for operation, (method, path, needs) in OPERATIONS.items():
        ticket = TicketFactory()  # a fresh one each time (delete must not spoil the next)
        url = path.format(number=ticket.number, customer_id=ticket.requester_id)
        headers = {"If-Match": f'"{ticket.version}"'} if method == "PATCH" else {}
        response = api.open(method, url, json=_body(operation), headers=headers)
        where = f"{caller} {method} {url} -> {response.status_code}"
        allowed = scope is not None and RANK[scope.value] >= RANK[needs] and (
            needs != ADMIN or is_admin)  # fmt: skip
        if scope is None:
            assert response.status_code == 401, where
        elif not allowed:
            assert response.status_code == 403, where
            assert response.mimetype == "application/problem+json", where
        else:
            assert response.status_code in (200, 201, 204), where
