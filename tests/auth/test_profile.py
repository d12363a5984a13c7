"""/profile: one's name and time zone; every page's times follow the zone."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.models import User
from tests.factories import TicketFactory


def test_a_staff_member_sets_name_and_time_zone(agent_client, agent):
    page = agent_client.get("/profile")
    assert page.status_code == 200
    assert '<option value="Europe/Berlin">Europe/Berlin</option>' in page.text
    saved = agent_client.post("/profile", data={"full_name": "  Ana   Agent ",
                                                "time_zone": "Europe/Berlin"})  # fmt: skip
    assert saved.status_code == 303
    db.session.expire_all()
    user = db.session.get(User, agent.id)
    assert (user.full_name, user.time_zone) == ("Ana Agent", "Europe/Berlin")
    row = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "user.updated")
                             .order_by(AuditLog.id.desc())).first()  # fmt: skip
    assert row.changes["time_zone"] == {"old": None, "new": "Europe/Berlin"}


def test_times_on_the_pages_follow_the_time_zone(agent_client, agent):
    ticket = TicketFactory(created_at=dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC))
    utc = agent_client.get("/tickets/").text
    assert re.search(r'title="\d{4}-\d\d-\d\d \d\d:\d\d UTC"', utc)
    agent_client.post("/profile", data={"full_name": agent.full_name,
                                        "time_zone": "Asia/Tokyo"})  # fmt: skip
    tokyo = agent_client.get("/tickets/").text
    assert re.search(r'title="\d{4}-\d\d-\d\d \d\d:\d\d JST"', tokyo)
    page = agent_client.get(f"/tickets/{ticket.number}").text
    assert "2026-07-01 21:00 JST" in page  # created 12:00 UTC


def test_bad_profile_values_are_refused_and_kept(agent_client, agent):
    bad = agent_client.post("/profile", data={"full_name": "", "time_zone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert "Not a valid choice" in bad.text or "not a time zone" in bad.text
    db.session.expire_all()
    assert db.session.get(User, agent.id).time_zone is None
