"""Placeholders in reply texts: ``{{ ticket.title }}`` and friends, sandboxed.

A text is checked when an admin saves it (:func:`problems`): it may hold only the
placeholders of :data:`PLACEHOLDERS`, optionally through a few harmless filters — no
``{% … %}`` blocks, no item access, no calls. Rendering (:func:`render`) uses Jinja's
immutable sandbox with strict undefined values, so a text that passed the check cannot
reach anything else; a text that somehow fails anyway raises :class:`PlaceholderError`
(a message for staff), never a 500.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from supportdesk.errors import DomainError


class PlaceholderError(DomainError):
    """A reply text cannot be filled in."""


@dataclass(frozen=True)
class TicketFields:
    """What ``ticket.*`` offers."""

    number: int
    reference: str
    title: str
    status: str
    priority: str


@dataclass(frozen=True)
class AgentFields:
    """What ``agent.*`` offers (the staff member applying the reply)."""

    full_name: str
    first_name: str


# name -> attributes (None: a plain value) and what each shows, for the help text.
PLACEHOLDERS: dict[str, dict[str, str]] = {
    "ticket": {
        "number": "the ticket's number, e.g. 1042",
        "reference": "the ticket's reference, e.g. SD-1042",
        "title": "the ticket's title",
        "status": "its status after the macro's changes, e.g. Resolved",
        "priority": "its priority after the macro's changes, e.g. High",
    },
    "agent": {
        "full_name": "the name of the staff member applying it",
        "first_name": "their first name",
    },
}
# Plain names (no attribute): the ticket's requester.
PLAIN: dict[str, str] = {
    "customer_name": "the requester's name (else the part of their email before the @)",
    "customer_email": "the requester's email address",
}
UNKNOWN_HINTS: dict[str, str] = {}
FILTERS = ("upper", "lower", "title", "capitalize", "trim", "default")
MAX_LENGTH = 20_000
SAMPLE = {
    "ticket": TicketFields(1042, "SD-1042", "Printer on fire", "Open", "High"),
    "agent": AgentFields("Ada Lovelace", "Ada"),
    "customer_name": "Grace Hopper",
    "customer_email": "grace@example.org",
}


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters = {name: env.filters[name] for name in FILTERS}
    env.globals.clear()
    return env


_ENV = _environment()


def help_items() -> Iterator[tuple[str, str]]:
    """Yield ``("{{ ticket.title }}", "the ticket's title")`` pairs for the form's help."""
    for name, attributes in PLACEHOLDERS.items():
        for attribute, text in attributes.items():
            yield f"{{{{ {name}.{attribute} }}}}", text
    for name, text in PLAIN.items():
        yield f"{{{{ {name} }}}}", text


def problems(text: str) -> list[str]:
    """Return what is wrong with ``text`` as a reply text (empty: it is fine)."""
    if len(text) > MAX_LENGTH:
        return [f"The text can have at most {MAX_LENGTH:,} characters."]
    try:
        tree = _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return [
            f"Line {exc.lineno}: {exc.message} (placeholders look like {{{{ ticket.title }}}})."
        ]
    found: list[str] = []
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            found.append(
                "Only placeholders such as {{ ticket.title }} are allowed, not {% … %} blocks."
            )
            continue
        for node in statement.nodes:
            if not isinstance(node, nodes.TemplateData):
                found.extend(_expression_problems(node))
    if not found:
        try:
            render(text, SAMPLE)
        except PlaceholderError as exc:
            found.append(str(exc))
    return list(dict.fromkeys(found))


def _expression_problems(node: nodes.Node) -> list[str]:
    if isinstance(node, nodes.Filter):
        if node.name not in FILTERS:
            return [f"The filter “{node.name}” is not available (use {', '.join(FILTERS)})."]
        if node.kwargs or node.dyn_args or node.dyn_kwargs:
            return [f"The filter “{node.name}” takes only plain values."]
        if not all(isinstance(arg, nodes.Const) for arg in node.args):
            return [f"The filter “{node.name}” takes only plain values."]
        return _expression_problems(node.node) if node.node is not None else []
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        attributes = PLACEHOLDERS.get(node.node.name)
        if attributes is None:
            return [_unknown(node.node.name)]
        if node.attr not in attributes:
            known = ", ".join(f"{node.node.name}.{a}" for a in attributes)
            return [
                f"{{{{ {node.node.name}.{node.attr} }}}} is not a placeholder (known: {known})."
            ]
        return []
    if isinstance(node, nodes.Name):
        if node.name in PLAIN:
            return []
        if node.name in PLACEHOLDERS:
            first = next(iter(PLACEHOLDERS[node.name]))
            return [f"Say which part of {node.name}, e.g. {{{{ {node.name}.{first} }}}}."]
        return [_unknown(node.name)]
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return []
    return ["Placeholders can only name a value, e.g. {{ ticket.title }} — no calculations, "
            "indexes or calls."]  # fmt: skip


def _unknown(name: str) -> str:
    hint = UNKNOWN_HINTS.get(name)
    known = ", ".join(f"{t}" for t, _ in help_items())
    if hint:
        return f"{{{{ {name} }}}} is not available: {hint}."
    return f"{{{{ {name} }}}} is not a placeholder. Known: {known}."


@functools.lru_cache(maxsize=512)
def _compiled(text: str) -> jinja2.Template:
    return _ENV.from_string(text)


def render(text: str, context: Mapping[str, Any]) -> str:
    """Fill in ``text``'s placeholders from ``context`` (see :data:`SAMPLE`).

    :raises PlaceholderError: the text cannot be filled in.
    """
    if not text:
        return ""
    try:
        return _compiled(text).render(**context)
    except (jinja2.TemplateError, TypeError, ValueError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise PlaceholderError(f"The reply text could not be filled in: {message}.") from None
