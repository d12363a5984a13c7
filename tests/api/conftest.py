"""Helpers of the API tests: tokens for users, and JSON requests made with them."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.users import tokens
from supportdesk.users.models import TokenScope
from tests.factories import UserFactory


class ApiClient:
    """The test client with a bearer token on every request (no cookie ever sent)."""

    def __init__(self, client: Any, secret: str | None) -> None:
        self.client = client
        self.secret = secret

    def open(self, method: str, path: str, *, json: Any = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> Any:  # fmt: skip
        sent = dict(headers or {})
        if self.secret is not None:
            sent.setdefault("Authorization", f"Bearer {self.secret}")
        return self.client.open(path, method=method, json=json, headers=sent, csrf=False, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.open("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.open("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.open("DELETE", path, **kwargs)


@pytest.fixture
def make_token(app: Any) -> Any:
    """Make a token for ``user`` (a new agent by default) with ``scope``; return its secret."""

    def make(user: Any = None, scope: TokenScope = TokenScope.WRITE, **kwargs: Any) -> str:
        user = user or UserFactory()
        return tokens.create_token(user, name="test", scope=scope, **kwargs).secret

    return make


@pytest.fixture
def api_as(app: Any, make_token: Any) -> Any:
    """An :class:`ApiClient` for ``user`` with ``scope`` (``None``: no token at all)."""

    def make(user: Any = None, scope: TokenScope | None = TokenScope.WRITE) -> ApiClient:
        secret = None if scope is None else make_token(user, scope)
        return ApiClient(app.test_client(), secret)

    return make


@pytest.fixture
def api(api_as: Any) -> ApiClient:
    """An agent's client with a write token."""
    return api_as()
