"""`make bench`'s mail_in: received messages through `receive`, in one process.

Run by bench/run.py as ``python -m bench.mail_in --count 10000`` (a process of its own, so
that the pages can be measured while it ingests). The mix is a desk's: 70 % replies to
existing tickets (half threaded by Message-ID, half by ``[SD-n]`` from the requester),
25 % new tickets, 5 % parked (automatic replies and newsletters). The messages are built
before the clock starts (a ``{"ready": n}`` line says when it does); each is received in
its own transaction, as `flask mail fetch` does. Prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.policy
import json
import random
import sys
import time
from collections import Counter
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _message(
    rng: random.Random,
    number: int,
    *,
    sender: str,
    subject: str,
    in_reply_to: str | None = None,
    extra: dict[str, str] | None = None,
) -> bytes:
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = sender
    mail["To"] = "Acme Support <support@acme.example>"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    mail["Message-ID"] = f"<bench.{number}.{rng.getrandbits(64):x}@mail.example.org>"
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    for name, value in (extra or {}).items():
        mail[name] = value
    error = rng.randint(1, 999)
    text = (f"Hello,\n\nmessage {number}: the export still fails with error {error}.\n"
            "Could you have another look?\n\nThanks,\nA customer\n")  # fmt: skip
    if in_reply_to or subject.startswith("Re:"):
        text += "\nOn Monday, Acme Support wrote:\n> Please try again.\n> Acme Support\n"
    mail.set_content(text)
    mail.add_alternative(f"<p>{text}</p>".replace("\n", "<br>"), subtype="html")
    return mail.as_bytes()


def build(count: int, seed: int = 7) -> list[bytes]:
    """Build ``count`` messages in the bench's mix from the seeded desk's tickets."""
    from supportdesk.customers.models import Customer
    from supportdesk.extensions import db
    from supportdesk.mail.models import MailMessage
    from supportdesk.models import Ticket, TicketStatus

    rng = random.Random(seed)
    targets = db.session.execute(
        sa.select(Ticket.number, Customer.email).join(Customer, Customer.id == Ticket.requester_id)
        .where(Ticket.status == TicketStatus.OPEN, Ticket.deleted_at.is_(None))
        .order_by(Ticket.id.desc()).limit(3000)
    ).all()  # fmt: skip
    threaded = db.session.execute(
        sa.select(MailMessage.message_id, Customer.email)
        .join(Ticket, Ticket.id == MailMessage.ticket_id)
        .join(Customer, Customer.id == Ticket.requester_id)
        .where(Ticket.status != TicketStatus.CLOSED, MailMessage.kind == "reply")
        .order_by(MailMessage.id.desc()).limit(3000)
    ).all()  # fmt: skip
    messages = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.35 and threaded:
            message_id, sender = rng.choice(threaded)
            messages.append(_message(rng, i, sender=sender, subject="Re: your ticket",
                                     in_reply_to=message_id))  # fmt: skip
        elif roll < 0.70:
            number, sender = rng.choice(targets)
            messages.append(_message(rng, i, sender=sender, subject=f"Re: [SD-{number}] export"))
        elif roll < 0.95:
            messages.append(_message(rng, i, sender=f"new{i}.{seed}@customers.example",
                                     subject=f"New problem {i}"))  # fmt: skip
        else:
            header = rng.choice([{"Auto-Submitted": "auto-replied"}, {"List-Id": "<n.example>"}])
            messages.append(_message(rng, i, sender=f"robot{i}@auto.example",
                                     subject="Automatic reply", extra=header))  # fmt: skip
    return messages


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=None, help="default: the clock")
    parser.add_argument("--seconds", type=float, default=None,
                        help="stop after this long (ingesting beside a page scenario)")  # fmt: skip
    args = parser.parse_args()
    from supportdesk import create_app
    from supportdesk.audit.context import acting_as
    from supportdesk.db import unit_of_work, writing
    from supportdesk.mail import inbound

    app = create_app()
    with app.app_context():
        seed = args.seed if args.seed is not None else time.time_ns()
        messages = build(args.count, seed=seed)
        print(json.dumps({"ready": len(messages)}), flush=True)  # the clock starts now
        outcomes: Counter[str] = Counter()
        started = time.perf_counter()
        stop_at = started + args.seconds if args.seconds else float("inf")
        with acting_as("cli:bench-mail-in"), writing():
            for raw in messages:
                with unit_of_work():
                    outcomes[inbound.receive(raw, "bench").label] += 1
                if time.perf_counter() > stop_at:
                    break
        seconds = time.perf_counter() - started
    done = sum(outcomes.values())
    print(json.dumps({"messages": done, "seconds": round(seconds, 1),
                      "messages_per_s": round(done / seconds, 1),
                      "outcomes": dict(outcomes)}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
