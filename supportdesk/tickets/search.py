"""Full-text search over ticket titles, descriptions and comment bodies (notes included).

One interface, three engines:

- PostgreSQL: ``tickets.search_vector`` (title A, description B) and
  ``comments.search_vector`` (C), GIN-indexed and kept by triggers; queries parsed by
  ``websearch_to_tsquery`` (``"exact phrase"``, ``-word``, ``or``), ranked by ``ts_rank``,
  highlighted by ``ts_headline``.
- SQLite with FTS5: ``ticket_fts``/``comment_fts``; the same query syntax is translated
  to FTS5's, ranked by ``bm25`` (title weighted over description), highlighted by FTS5.
- SQLite without FTS5: substring LIKE on title, description and comments, unranked.

A ticket that matches only in its comments ranks below every ticket that matches in its
title or description. Ranking a very common word over a million tickets would score
every match, so a ranked search scores the newest ``CANDIDATES`` matches of the tickets and
of the comments (each found through the GIN index or the date order, whichever the planner
finds cheaper) and says so on the page when it stopped there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy.dialects import postgresql

from supportdesk.customers.models import Customer
from supportdesk.db import SQLColumn
from supportdesk.extensions import db
from supportdesk.tickets.models import Comment, Ticket

# One more than the list's count cap (queries.COUNT_CAP): a search that hit this limit
# then counts as "1,000+", never as exactly 1,000.
CANDIDATES = 1_001
PROBE = 5_000
LANGUAGE = "english"
# ts_headline/FTS5 wrap matches in these (control characters that the text never shows);
# the page escapes the text first and only then turns them into <mark>.
MARK_START, MARK_STOP = "\x1e", "\x1f"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)
_FTS_MARKS = f"'{MARK_START}', '{MARK_STOP}'"
_HEADLINE = f"StartSel={MARK_START}, StopSel={MARK_STOP}, HighlightAll=true"
_SNIPPET = (
    f"StartSel={MARK_START}, StopSel={MARK_STOP}, MaxWords=24, MinWords=10, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def clean(text: str) -> str:
    """Control characters become spaces; runs of spaces become one."""
    return " ".join(_CONTROL.sub(" ", text).split())


def engine_kind() -> str:
    """Return ``postgresql``, ``fts5`` or ``like`` for the app's database (cached per app)."""
    cache = current_app.extensions.setdefault("supportdesk.search", {})
    if "kind" not in cache:
        bind = db.engine
        if bind.dialect.name == "postgresql":
            cache["kind"] = "postgresql"
        else:
            cache["kind"] = "fts5" if sa.inspect(bind).has_table("ticket_fts") else "like"
    return cache["kind"]


def fts5_query(text: str) -> str:
    """Translate web-search syntax into an FTS5 query of quoted strings only.

    Every word or phrase becomes an FTS5 string (so no operator or column filter can be
    smuggled in); ``or`` between two terms is OR, a leading ``-`` is NOT, the rest is
    AND. Returns "" when nothing positive is left to search for.
    """
    positive: list[str] = []
    negative: list[str] = []
    pending_or = False
    for match in _TOKEN.finditer(text):
        phrase, word = match.group(1), match.group(2)
        negate = False
        if word is not None:
            if word.lower() == "or":
                pending_or = bool(positive)
                continue
            if word.startswith("-") and len(word) > 1:
                negate, word = True, word[1:]
        words = _WORD.findall(phrase if phrase is not None else word)
        if not words:
            continue
        term = '"' + " ".join(words).replace('"', '""') + '"'
        if negate:
            negative.append(term)
        elif pending_or:
            positive[-1] = f"{positive[-1]} OR {term}"
        else:
            positive.append(term)
        pending_or = False
    if not positive:
        return ""
    query = " AND ".join(f"({p})" for p in positive)
    for term in negative:
        query = f"({query}) NOT {term}"
    return query


@dataclass
class Search:
    """A parsed search: SQL pieces for the list, the bulk selection and the export."""

    text: str
    kind: str
    problem: str | None = None

    @property
    def usable(self) -> bool:
        """False when the text has nothing to search for (the list says why)."""
        return self.problem is None

    # -- PostgreSQL ---------------------------------------------------------------------
    def _tsquery(self) -> sa.ColumnElement[Any]:
        return sa.func.websearch_to_tsquery(
            sa.literal(LANGUAGE, postgresql.REGCONFIG), sa.bindparam(None, self.text)
        )

    @staticmethod
    def _vector(table: str) -> sa.ColumnElement[Any]:
        return sa.literal_column(f"{table}.search_vector", postgresql.TSVECTOR)

    # -- SQLite FTS5 ---------------------------------------------------------------------
    def _fts_ids(self, table: str) -> sa.Select[Any]:
        fts = sa.table(table, sa.column("rowid"))
        return sa.select(fts.c.rowid).where(
            sa.literal_column(table).op("MATCH")(sa.bindparam(None, fts5_query(self.text)))
        )

    def _fts_scalar(self, expression: str, ticket_id: Any) -> sa.ScalarSelect[Any]:
        fts = sa.table("ticket_fts", sa.column("rowid"))
        return (
            sa.select(sa.literal_column(expression))
            .select_from(fts)
            .where(
                sa.literal_column("ticket_fts").op("MATCH")(
                    sa.bindparam(None, fts5_query(self.text))
                ),
                fts.c.rowid == ticket_id,
            )
            .scalar_subquery()
        )

    # -- what the queries use ------------------------------------------------------------
    def ticket_matches(self) -> sa.ColumnElement[bool]:
        """Return a condition on ``tickets``: the title or description matches."""
        if self.kind == "postgresql":
            return self._vector("tickets").op("@@")(self._tsquery())
        if self.kind == "fts5":
            return Ticket.id.in_(self._fts_ids("ticket_fts"))
        pattern = _like_pattern(self.text)
        return sa.or_(
            Ticket.title.ilike(pattern, escape="\\"), Ticket.description.ilike(pattern, escape="\\")
        )

    def comment_matches(self) -> sa.ColumnElement[bool]:
        """Return a condition on ``comments``: the body matches."""
        if self.kind == "postgresql":
            return self._vector("comments").op("@@")(self._tsquery())
        if self.kind == "fts5":
            return Comment.id.in_(self._fts_ids("comment_fts"))
        return Comment.body.ilike(_like_pattern(self.text), escape="\\")

    def condition(self) -> sa.ColumnElement[bool]:
        """Every matching ticket, uncapped (bulk "all matching", export).

        One IN over a UNION of both indexed lookups: PostgreSQL hashes it once. (An OR of
        the two made it re-run the comment lookup per ticket: 30 s for a common word.)
        """
        in_tickets = sa.select(Ticket.id).where(self.ticket_matches())
        in_comments = sa.select(Comment.ticket_id).where(self.comment_matches())
        by_requester = sa.select(Ticket.id).where(self.requester_matches())
        return Ticket.id.in_(sa.union(in_tickets, in_comments, by_requester))

    def requester_matches(self) -> sa.ColumnElement[bool]:
        """Tickets asked by a customer :meth:`requesters` finds.

        On PostgreSQL as ``= ANY(ARRAY(…))``: the customers are looked up once, before the
        tickets (an ``IN (subquery)`` here made the planner rethink the whole search and
        doubled a rare word's search at 1M tickets: 70 ms against 34 without it, 18 with).
        """
        if self.kind == "postgresql":
            found = sa.func.array(self.requesters().scalar_subquery())
            return Ticket.requester_id == sa.any_(found)
        return Ticket.requester_id.in_(self.requesters())

    def requesters(self) -> sa.CompoundSelect[Any]:
        """Select customers whose whole email or whole name is the search text (any case).

        Exact matches only, one indexed lookup each (a UNION, not an OR: PostgreSQL
        scanned all 150,000 customers for the OR), and a requester's address typed into
        the box is what staff do.
        """
        typed = self.text.strip().lower()
        return sa.union(
            sa.select(Customer.id).where(sa.func.lower(Customer.email) == typed),
            sa.select(Customer.id).where(sa.func.lower(Customer.name) == typed),
        )

    def candidates(self, conditions: list[sa.ColumnElement[bool]]) -> sa.CTE:
        """Return the ids of the matching tickets the list ranks (see the module doc)."""
        in_tickets = _capped(
            "tickets",
            sa.select(Ticket.id.label("id")).where(self.ticket_matches(), *conditions),
            Ticket.created_at,
        )
        in_comments = _capped(
            "comments",
            sa.select(Comment.ticket_id.label("id"))
            .join(Ticket, Ticket.id == Comment.ticket_id)
            .where(self.comment_matches(), *conditions),
            Comment.id,
        )
        # Few tickets per requester (a heavy one has hundreds): no cap needed.
        by_requester = sa.select(Ticket.id.label("id")).where(self.requester_matches(), *conditions)
        # A CTE: the page and its count both read it, and PostgreSQL computes it once.
        both = sa.union(
            in_tickets.subquery().select(), in_comments.subquery().select(), by_requester
        )
        return both.cte("search_candidates")

    def rank(self) -> sa.ColumnElement[float]:
        """Relevance of a ticket's title and description (0 for comment-only matches)."""
        if self.kind == "postgresql":
            return sa.func.ts_rank(self._vector("tickets"), self._tsquery()).cast(sa.Float)
        if self.kind == "fts5":
            # bm25 is lower-is-better and negative; title counts 10x, description 4x.
            score = self._fts_scalar("-bm25(ticket_fts, 10.0, 4.0)", Ticket.id)
            return sa.func.coalesce(score, 0.0).cast(sa.Float)
        raise ValueError("substring matching has no relevance")

    def title_headline(self) -> sa.ColumnElement[str] | None:
        """Return the title with the matched words between MARK_START and MARK_STOP."""
        return self._marked(Ticket.title, _HEADLINE, f"highlight(ticket_fts, 0, {_FTS_MARKS})")

    def snippet(self) -> sa.ColumnElement[str] | None:
        """Return a fragment of the description around the matched words."""
        fts = f"snippet(ticket_fts, 1, {_FTS_MARKS}, ' … ', 24)"
        return self._marked(Ticket.description, _SNIPPET, fts)

    def _marked(
        self, column: SQLColumn, options: str, fts_expression: str
    ) -> sa.ColumnElement[str] | None:
        if self.kind == "postgresql":
            language = sa.literal(LANGUAGE, postgresql.REGCONFIG)
            return sa.func.ts_headline(
                language, column, self._tsquery(), sa.bindparam(None, options)
            )
        if self.kind == "fts5":
            return self._fts_scalar(fts_expression, Ticket.id)
        return None


def _capped(name: str, matches: sa.Select[Any], newest: SQLColumn) -> sa.Select[Any]:
    """Every match when there are at most PROBE of them, else the newest CANDIDATES.

    The planner cannot be trusted to choose: for ``ORDER BY created_at LIMIT n`` it walks
    the date index and tests each row whenever it guesses a word is common, and for a
    rare word it guesses wrong (half a second to walk a million rows for 214 matches). So
    the query first takes up to PROBE + 1 matches straight from the full-text index (no
    order, it stops early); only when there are more than PROBE does the date walk run,
    and it then finds its CANDIDATES quickly. PostgreSQL skips the branch not taken (a
    one-time filter on an InitPlan).
    """
    probe = matches.limit(PROBE + 1).cte(f"{name}_probe")
    common = sa.select(sa.func.count() > PROBE).select_from(probe).scalar_subquery()
    few = sa.select(probe.c.id).where(sa.not_(common))
    many = matches.where(common).order_by(newest.desc()).limit(CANDIDATES)
    return sa.union_all(few, many.subquery().select())  # type: ignore[return-value]  # used as a subquery like a Select


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


STOP_WORDS_ONLY = (
    "The search has only very common words (like “the” or “and”), which are "
    "not indexed; add a more specific word."
)
# PostgreSQL's English stop words (its `english.stop`, from Snowball): FTS5 indexes every
# word, so on SQLite a search of only these is refused here, as PostgreSQL refuses it.
_STOP_WORDS_TEXT = """
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
she her hers herself it its itself they them their theirs themselves what which who whom
this that these those am is are was were be been being have has had having do does did
doing a an the and but if or because as until while of at by for with about against
between into through during before after above below to from up down in out on off over
under again further then once here there when where why how all any both each few more
most other some such no nor not only own same so than too very s t can will just don
should now
"""
ENGLISH_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_TERM = re.compile(r"(?<![\w-])-?\w+", re.UNICODE)


def parse(text: str) -> Search:
    """Parse what was typed in the search box. Never raises: a problem is a message."""
    text = clean(text)
    kind = engine_kind()
    search = Search(text=text, kind=kind)
    if not _WORD.search(text):
        search.problem = "The search has no letters or digits to look for; it was ignored."
    elif kind == "fts5" and not fts5_query(text):
        search.problem = "Add a word to look for: a search of only -excluded words finds nothing."
    elif kind != "postgresql" and _stop_words_only(text):
        search.problem = STOP_WORDS_ONLY
    return search


def _stop_words_only(text: str) -> bool:
    """Whether every word looked for is a stop word (excluded -words do not count)."""
    words = [t.lower() for t in _TERM.findall(text) if not t.startswith("-")]
    return bool(words) and all(w in ENGLISH_STOP_WORDS or w == "or" for w in words)


def only_stop_words(search: Search | None, *, found: bool) -> bool:
    """Whether a search that ``found`` nothing failed for having only stop-words."""
    return search is not None and search.usable and not found and not has_lexemes(search)


def has_lexemes(search: Search) -> bool:
    """On PostgreSQL: whether the query keeps any word once stop-words are dropped."""
    if search.kind != "postgresql":
        return True
    return bool(db.session.scalar(sa.select(sa.func.numnode(search._tsquery()))))


def marked(text: str | None) -> Markup | None:
    """Escape ``text``, then turn the match markers into ``<mark>`` elements."""
    if text is None:
        return None
    html = str(escape(text))
    if MARK_START not in html:
        return Markup(html)  # noqa: S704  # nosec B704 - escaped just above
    html = html.replace(MARK_START, "<mark>").replace(MARK_STOP, "</mark>")
    return Markup(html)  # noqa: S704  # nosec B704 - escaped, then only <mark> added
