"""factory-boy factories: unique defaults from counters, relations built on demand."""

from __future__ import annotations

import factory
from werkzeug.security import generate_password_hash

from supportdesk.customers.models import Customer
from supportdesk.extensions import db
from supportdesk.models import (
    AssignMode,
    Comment,
    Macro,
    Tag,
    Ticket,
    TicketPriority,
    TicketStatus,
    User,
    UserRole,
)
from supportdesk.tickets.numbering import reserve_ticket_numbers

# A cheap hash of the shared test password: scrypt per user would slow the suite.
TEST_PASSWORD = "correct horse battery"
TEST_PASSWORD_HASH = generate_password_hash(TEST_PASSWORD, method="pbkdf2:sha256:1000")


class BaseFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class UserFactory(BaseFactory):
    class Meta:
        model = User

    class Params:
        admin = factory.Trait(role=UserRole.ADMIN)

    email = factory.Sequence(lambda n: f"staff{n}@example.com")
    full_name = factory.Sequence(lambda n: f"Staff Member {n}")
    password_hash = TEST_PASSWORD_HASH
    role = UserRole.AGENT
    is_active = True


class TagFactory(BaseFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag-{n}")
    colour = "#336699"
    description = ""


class CustomerFactory(BaseFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.org")
    name = factory.Sequence(lambda n: f"Customer {n}")


class TicketFactory(BaseFactory):
    class Meta:
        model = Ticket

    number = factory.LazyFunction(lambda: reserve_ticket_numbers(db.session, 1)[0])
    title = factory.Sequence(lambda n: f"Printer on floor {n} is on fire")
    description = "It was fine yesterday."
    status = TicketStatus.OPEN
    priority = TicketPriority.MEDIUM
    creator = factory.SubFactory(UserFactory)
    requester = factory.SubFactory(CustomerFactory)
    assignee = None


class CommentFactory(BaseFactory):
    class Meta:
        model = Comment

    ticket = factory.SubFactory(TicketFactory)
    author = factory.SubFactory(UserFactory)
    body = factory.Sequence(lambda n: f"Comment number {n}")
    is_internal = False


class MacroFactory(BaseFactory):
    """A canned reply (no actions) unless told otherwise; tag actions via the service."""

    class Meta:
        model = Macro

    name = factory.Sequence(lambda n: f"Macro {n}")
    body = "Hello from {{ agent.first_name }} about {{ ticket.reference }}."
    is_internal = False
    assign = AssignMode.KEEP
    tag_actions = factory.LazyFunction(list)
