"""Customer rules: addresses as people type them, finding or creating, editing, blocking.

Every path that names a customer (the ticket form's requester and CC fields, later the
API and incoming mail) parses addresses here, so "Ana <ana@x.org>", "ana@x.org" and
"ANA@X.ORG" are one customer everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import getaddresses

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from supportdesk.customers.models import Customer
from supportdesk.db import db, utcnow
from supportdesk.errors import DomainError

MAX_CCS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_COMMA_OUTSIDE_QUOTES = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')


class InvalidCustomerError(DomainError):
    """An address or a customer's values break a rule; the message says which."""


@dataclass(frozen=True)
class Address:
    """One parsed address: the email (as typed, validated) and an optional name."""

    email: str
    name: str = ""


def clean_text(value: str, limit: int) -> str:
    """Return ``value`` with control characters (CR, LF, NUL…) removed, trimmed to ``limit``.

    Names end up in mail headers: a line break must never reach them.
    """
    value = unicodedata.normalize("NFC", value or "")
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


def check_email(email: str) -> str:
    """Return the address normalised (the domain lower-cased, IDNA-checked).

    :raises InvalidCustomerError: not an address mail can be sent to, or non-ASCII
        before the ``@`` (many servers refuse SMTPUTF8).
    """
    email = (email or "").strip()
    if _CONTROL.search(email):
        raise InvalidCustomerError("An email address cannot contain line breaks.")
    local = email.rsplit("@", 1)[0]
    if not local.isascii():
        raise InvalidCustomerError(
            f"{email!r}: only letters a-z, digits and . _ + - are accepted before the @."
        )
    try:
        valid = validate_email(email, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidCustomerError(f"{email!r} is not an email address: {exc}") from None
    # The ASCII form (an international domain as xn--…): what mail headers carry, so
    # the address a customer writes from is found again.
    address = valid.ascii_email or valid.normalized
    if len(address) > 254:
        raise InvalidCustomerError("An email address can have at most 254 characters.")
    return address


def parse_addresses(text: str, *, limit: int = MAX_CCS) -> list[Address]:
    """Parse ``Name <email>`` or bare addresses, separated by commas (or new lines).

    :raises InvalidCustomerError: one of them is not an address, or more than ``limit``.
    """
    raw = (text or "").replace("\n", ",").replace("\r", ",").replace(";", ",")
    found: dict[str, Address] = {}
    for segment in _COMMA_OUTSIDE_QUOTES.split(raw):
        if not segment.strip():
            continue
        pairs = getaddresses([segment])
        if len(pairs) != 1 or "@" not in pairs[0][1]:
            shown = clean_text(segment, 80)
            raise InvalidCustomerError(f"{shown!r} is not an email address.")
        name, email = pairs[0]
        address = Address(check_email(email), clean_text(name, 120))
        found.setdefault(address.email.lower(), address)
    if len(found) > limit:
        raise InvalidCustomerError(f"At most {limit} addresses, please.")
    return list(found.values())


def parse_address(text: str) -> Address:
    """Parse exactly one address.

    :raises InvalidCustomerError: none, several, or not an address.
    """
    addresses = parse_addresses(text, limit=1) if text.count("@") <= 1 else None
    if not addresses:
        if addresses is None:
            raise InvalidCustomerError("Give one address here (the others go in CC).")
        raise InvalidCustomerError(
            "Give the requester's email address, e.g. Ana <ana@example.org>."
        )
    return addresses[0]


_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def format_address(name: str, email: str) -> str:
    """Return ``Name <email>`` as the forms show it (quoted when the name needs it).

    Unlike ``email.utils.formataddr`` this never fails on a non-ASCII address (an old
    row, an import): it is for people to read and for :func:`parse_addresses` to read back.
    """
    name = clean_text(name, 120)
    if not name:
        return email
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{email}>"


def find_customer(email: str) -> Customer | None:
    """Return the customer with this address (ignoring case), or None."""
    return db.session.scalar(
        sa.select(Customer).where(sa.func.lower(Customer.email) == email.strip().lower())
    )


def find_or_create(address: Address) -> Customer:
    """Return the customer with this address, created when new (with the name given).

    An existing customer keeps their name; a name is only filled in when they had none.
    """
    customer = find_customer(address.email)
    if customer is None:
        try:
            with db.session.begin_nested():  # two requests creating the same customer
                customer = Customer(email=address.email, name=address.name)
                db.session.add(customer)
        except sa.exc.IntegrityError:
            customer = find_customer(address.email)
            if customer is None:  # pragma: no cover - the unique index said it exists
                raise
    elif address.name and not customer.name:
        customer.name = address.name
    return customer


def find_or_create_all(addresses: Iterable[Address]) -> list[Customer]:
    """Return the customers for ``addresses`` (created when new), in the given order."""
    return [find_or_create(a) for a in addresses]


@dataclass(frozen=True)
class CustomerValues:
    """What staff edit on a customer's page."""

    email: str
    name: str = ""
    organisation: str = ""
    notes: str = ""
    is_blocked: bool = False


def update_customer(customer: Customer, values: CustomerValues) -> Customer:
    """Save a customer's details.

    :raises InvalidCustomerError: the address is invalid or belongs to another customer.
    """
    email = check_email(values.email)
    other = find_customer(email)
    if other is not None and other.id != customer.id:
        raise InvalidCustomerError(f"{email} belongs to another customer; merge the two instead.")
    customer.email = email
    customer.name = clean_text(values.name, 120)
    customer.organisation = clean_text(values.organisation, 120)
    customer.notes = (values.notes or "").strip()[:20_000]
    customer.is_blocked = bool(values.is_blocked)
    customer.updated_at = utcnow()
    db.session.flush()
    return customer
