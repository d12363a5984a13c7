import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from supportdesk.audit.listeners import audited_bulk
from supportdesk.customers.models import Customer, ticket_ccs
from supportdesk.extensions import db
from supportdesk.models import Comment, Tag, Ticket, TicketStatus, User, UserRole, ticket_tags
from supportdesk.users.service import find_user_by_email


def test_create_user_from_stdin(runner):
    result = runner.invoke(
        args=["create-user", "Nia@Example.com", "--name", "Nia Okafor", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created agent Nia@Example.com" in result.output
    user = find_user_by_email("nia@example.com")
    assert user is not None
    assert user.full_name == "Nia Okafor"
    assert user.role == UserRole.AGENT
    assert check_password_hash(user.password_hash, "a long enough password")


def test_create_admin_with_prompted_password(runner):
    result = runner.invoke(
        args=["create-user", "boss@example.com", "--name", "Boss", "--admin"],
        input="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert find_user_by_email("boss@example.com").role == UserRole.ADMIN


def test_create_user_with_duplicate_email_fails_with_status_1(runner, agent):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    result = runner.invoke(
        args=["create-user", agent.email.upper(), "--name", "Twin", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == before


def test_create_user_refuses_a_short_password(runner):
    result = runner.invoke(
        args=["create-user", "x@example.com", "--name", "X", "--password-stdin"], input="short\n"
    )
    assert result.exit_code == 1
    assert "at least 12 characters" in result.output
    assert find_user_by_email("x@example.com") is None


def _count(model_or_table):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model_or_table))


def test_seed_is_deterministic_and_refuses_a_desk_with_tickets(runner):
    result = runner.invoke(args=["seed", "--tickets", "60", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "Seeded 60 tickets" in result.output
    assert _count(Ticket) == 60
    assert _count(Tag) == 40
    assert _count(Comment) > 60
    assert _count(ticket_tags) > 0
    titles = db.session.scalars(sa.select(Ticket.title).order_by(Ticket.number)).all()
    numbers = db.session.scalars(sa.select(Ticket.number).order_by(Ticket.number)).all()
    assert numbers == list(range(numbers[0], numbers[0] + 60))
    statuses = set(db.session.scalars(sa.select(Ticket.status)))
    assert TicketStatus.CLOSED in statuses

    again = runner.invoke(args=["seed", "--tickets", "5"])
    assert again.exit_code == 1
    assert "--append" in again.output
    assert _count(Ticket) == 60

    appended = runner.invoke(args=["seed", "--tickets", "5", "--append"])
    assert appended.exit_code == 0, appended.output
    assert _count(Ticket) == 65
    assert _count(Tag) == 40  # tags and staff are reused, not duplicated

    # Same seed, same data: wipe and seed again.
    with audited_bulk():  # wiping the desk on purpose, outside the audited services
        db.session.execute(sa.delete(Ticket))
    runner.invoke(args=["seed", "--tickets", "60", "--seed", "7"])
    second = db.session.scalars(sa.select(Ticket.title).order_by(Ticket.number)).all()
    assert second == titles


def test_seeded_rows_are_consistent(runner):
    assert runner.invoke(args=["seed", "--tickets", "300"]).exit_code == 0
    tickets = db.session.scalars(sa.select(Ticket)).all()
    for ticket in tickets:
        assert ticket.updated_at >= ticket.created_at
        finished = ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
        assert (ticket.resolved_at is not None) == finished
    bad_comments = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Comment)
        .join(Ticket, Ticket.id == Comment.ticket_id)
        .where(Comment.created_at < Ticket.created_at)
    )
    assert bad_comments == 0


def test_seeded_tickets_all_have_requesters_with_a_realistic_skew(runner):
    assert runner.invoke(args=["seed", "--tickets", "2000", "--comments-per-ticket", "0"]
                         ).exit_code == 0  # fmt: skip
    assert _count(Customer) == 300  # 15 % of the tickets
    emails = db.session.scalars(sa.select(Customer.email)).all()
    assert all(email.isascii() for email in emails)  # what the form would accept too
    assert db.session.scalar(sa.select(sa.func.count()).where(Ticket.requester_id.is_(None))) == 0
    per_customer = (
        db.session.execute(
            sa.select(sa.func.count(Ticket.id))
            .group_by(Ticket.requester_id)
            .order_by(sa.func.count().desc())
        )
        .scalars()
        .all()
    )
    assert per_customer[0] > 3 * (2000 / 300)  # a few heavy customers (at 1M: hundreds)
    with_ccs = db.session.scalar(sa.select(sa.func.count(sa.distinct(ticket_ccs.c.ticket_id))))
    assert 300 <= with_ccs <= 500  # about 20 %
    clash = db.session.scalar(
        sa.select(sa.func.count()).select_from(ticket_ccs)
        .join(Ticket, Ticket.id == ticket_ccs.c.ticket_id)
        .where(Ticket.requester_id == ticket_ccs.c.customer_id)
    )  # fmt: skip
    assert clash == 0  # the requester is never also a CC


def test_demo_creates_an_admin_once_and_seeds_an_empty_desk(runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "admin@example.com" in first.output
    assert "password:" in first.output
    assert _count(Ticket) == 200
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0
    assert "shown once" not in second.output
    assert _count(Ticket) == 200
    third = runner.invoke(args=["demo", "--new-password", "--port", "5001"])
    assert "shown once" in third.output
    assert "127.0.0.1:5001" in third.output
    assert third.output.rstrip().endswith("+")  # the framed login is the last thing printed
    admins = db.session.scalar(
        sa.select(sa.func.count()).select_from(User).where(User.role == UserRole.ADMIN)
    )
    assert admins == 1


@pytest.mark.postgresql_only
def test_seed_with_deferred_indexes_rebuilds_every_index(app):
    from supportdesk.seed import seed_demo_data

    def index_names():
        return set(
            db.session.scalars(
                sa.text(
                    "SELECT indexname FROM pg_indexes WHERE tablename IN "
                    "('tickets', 'comments', 'ticket_tags')"
                )
            )
        )

    def foreign_keys():
        return set(
            db.session.scalars(
                sa.text(
                    "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass"
                    "::text IN ('tickets', 'comments', 'ticket_tags')"
                )
            )
        )

    before, keys = index_names(), foreign_keys()
    assert len(keys) >= 7
    result = seed_demo_data(tickets=120, seed=3, defer_indexes_from=100)
    assert result.tickets == 120
    assert index_names() == before
    assert foreign_keys() == keys  # dropped for the load, validated again at the end
    assert _count(Ticket) == 120


@pytest.mark.postgresql_only
def test_refresh_statistics_analyzes_or_vacuums_the_seeded_tables(app):
    from supportdesk.seed import refresh_statistics

    def stamp(column):
        db.session.execute(sa.text("SELECT pg_stat_clear_snapshot()"))  # stats are cached
        return db.session.scalar(
            sa.text(f"SELECT {column} FROM pg_stat_user_tables WHERE relname = 'tickets'")  # noqa: S608
        )

    refresh_statistics()  # on its own connection, outside the test's transaction
    assert stamp("last_analyze") is not None
    refresh_statistics(vacuum=True)
    assert stamp("last_vacuum") is not None
