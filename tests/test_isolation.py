"""Canary: what one test commits is gone in the next (tests run in file order)."""

import sqlalchemy as sa

from supportdesk.extensions import db
from supportdesk.models import User
from tests.factories import UserFactory

CANARY = "canary@example.com"


def test_a_commits_a_row(app):
    UserFactory(email=CANARY)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).where(User.email == CANARY)) == 1


def test_b_does_not_see_the_row_of_the_previous_test(app):
    assert db.session.scalar(sa.select(sa.func.count()).where(User.email == CANARY)) == 0
