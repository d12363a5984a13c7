"""Tag rules: names unique ignoring case, colours as #rrggbb."""

from __future__ import annotations

import re

import sqlalchemy as sa

from supportdesk.errors import ConflictError, DomainError
from supportdesk.extensions import db
from supportdesk.tags.models import Tag, ticket_tags

# \Z, not $: "$" also matches before a trailing newline ("#aabbcc\n" passed, then broke).
# WTForms' Regexp calls .match, so the pattern itself must end the text.
COLOUR = re.compile(r"#[0-9a-fA-F]{6}\Z")
DEFAULT_COLOUR = "#6b7280"


class InvalidTagError(DomainError):
    """A tag value breaks a rule."""


def _clean(name: str, colour: str, description: str) -> tuple[str, str, str]:
    name = " ".join((name or "").split())
    if not name or len(name) > 50:
        raise InvalidTagError("A tag name needs 1 to 50 characters.")
    if not COLOUR.fullmatch(colour or ""):
        raise InvalidTagError("The colour must look like #1a2b3c.")
    description = (description or "").strip()
    if len(description) > 500:
        raise InvalidTagError("The description can have at most 500 characters.")
    return name, colour.lower(), description


def find_tag_by_name(name: str) -> Tag | None:
    """Return the tag with this name, ignoring case."""
    stmt = sa.select(Tag).where(sa.func.lower(Tag.name) == " ".join(name.split()).lower())
    return db.session.scalars(stmt).one_or_none()


def _check_unique(name: str, *, exclude_id: int | None = None) -> None:
    existing = find_tag_by_name(name)
    if existing is not None and existing.id != exclude_id:
        raise ConflictError(f"A tag named {existing.name!r} already exists.")


def create_tag(name: str, *, colour: str = DEFAULT_COLOUR, description: str = "") -> Tag:
    """Create a tag.

    :raises InvalidTagError: a value breaks a rule.
    :raises ConflictError: the name is taken (in any case).
    """
    name, colour, description = _clean(name, colour, description)
    _check_unique(name)
    tag = Tag(name=name, colour=colour, description=description)
    db.session.add(tag)
    db.session.flush()
    return tag


def update_tag(tag: Tag, *, name: str, colour: str, description: str) -> Tag:
    """Rename, recolour or redescribe a tag.

    :raises InvalidTagError: a value breaks a rule.
    :raises ConflictError: the new name is taken by another tag.
    """
    name, colour, description = _clean(name, colour, description)
    _check_unique(name, exclude_id=tag.id)
    tag.name, tag.colour, tag.description = name, colour, description
    db.session.flush()
    return tag


def count_tag_links(tag: Tag) -> int:
    """Return how many tickets carry ``tag``."""
    stmt = sa.select(sa.func.count()).select_from(ticket_tags).where(ticket_tags.c.tag_id == tag.id)
    return db.session.scalar(stmt) or 0


def delete_tag(tag: Tag) -> int:
    """Delete a tag and its links to tickets; return how many links went."""
    links = count_tag_links(tag)
    db.session.delete(tag)  # ticket_tags rows go with it (ON DELETE CASCADE)
    db.session.flush()
    return links


def resolve_tag_names(names: str) -> list[Tag]:
    """Return tags for comma-separated ``names``, creating those that do not exist."""
    tags: list[Tag] = []
    for raw in names.split(","):
        name = " ".join(raw.split())
        if not name:
            continue
        tag = find_tag_by_name(name) or create_tag(name)
        if tag not in tags:
            tags.append(tag)
    return tags
