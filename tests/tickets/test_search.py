"""Full-text search: semantics, ranking, paging, highlighting and hostile input (both backends)."""

import datetime as dt
import re

import pytest

from supportdesk.db import utcnow
from supportdesk.models import TicketStatus
from supportdesk.tickets import search
from tests.factories import CommentFactory, TicketFactory
from tests.html_safety import script_risks


def _numbers(response):
    assert response.status_code == 200, response.status_code
    return [int(n) for n in re.findall(r'<td class="num"><a href="/tickets/(\d+)"', response.text)]


def _find(client, q, **args):
    return _numbers(client.get("/tickets/", query_string={"q": q, **args}))


def _make(minutes_ago, **kwargs):
    return TicketFactory(created_at=utcnow() - dt.timedelta(minutes=minutes_ago), **kwargs)


def test_title_ranks_above_description_above_comments_then_newest_first(agent_client):
    in_comment = _make(1, title="Laptop", description="It is slow.")
    CommentFactory(ticket=in_comment, body="The keyboard stopped working", is_internal=True)
    in_description = _make(2, title="Laptop", description="The keyboard is sticky.")
    in_title = _make(3, title="Keyboard missing", description="Please help.")
    older_title = _make(9, title="Keyboard layout", description="Wrong layout.")
    _make(4, title="Printer", description="Out of toner.")
    assert _find(agent_client, "keyboard") == [
        in_title.number, older_title.number, in_description.number, in_comment.number
    ]  # fmt: skip


def test_stemming_phrases_exclusions_and_or(agent_client):
    a = _make(1, title="Printers jam every morning", description="Tray two.")
    b = _make(2, title="Printer offline", description="After the jam was cleared.")
    c = _make(3, title="Scanner offline", description="Network problem.")
    assert set(_find(agent_client, "printer")) == {a.number, b.number}  # printers ~ printer
    assert _find(agent_client, '"printers jam"') == [a.number]  # a phrase, in order
    assert _find(agent_client, "offline -scanner") == [b.number]
    assert set(_find(agent_client, "scanner or jam")) == {a.number, b.number, c.number}
    assert set(_find(agent_client, "offline network")) == {c.number}  # every word must match


def test_internal_notes_are_searched_too(agent_client):
    ticket = _make(1, title="Refund", description="Customer wants money back.")
    CommentFactory(ticket=ticket, body="Escalated to finance (quarkbudget)", is_internal=True)
    assert _find(agent_client, "quarkbudget") == [ticket.number]


def test_search_combines_with_filters(agent_client):
    open_one = _make(1, title="Router down", status=TicketStatus.OPEN)
    _make(2, title="Router down again", status=TicketStatus.CLOSED)
    assert _find(agent_client, "router", status="open") == [open_one.number]


def test_ranked_results_page_with_keyset_cursors_without_gaps_or_repeats(agent_client):
    # 60 matches with ties in rank (same title) and a few higher-ranked ones.
    tickets = [_make(i, title="Monitor flicker", description="x") for i in range(55)]
    tickets += [
        _make(100 + i, title="Monitor monitor flicker", description="monitor") for i in range(5)
    ]
    seen, url, pages = [], "/tickets/?q=monitor", 0
    while url:
        response = agent_client.get(url)
        seen += _numbers(response)
        match = re.search(r'<a rel="next" href="([^"]+)"', response.text)
        url = match.group(1).replace("&amp;", "&") if match else None
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(t.number for t in tickets)
    assert len(seen) == len(set(seen)) == 60
    assert set(seen[:5]) == {t.number for t in tickets[55:]}  # the better matches first
    # And back again from the last page.
    back = agent_client.get(url or "/tickets/?q=monitor")
    assert back.status_code == 200


def test_an_explicit_sort_wins_over_relevance(agent_client):
    a = _make(5, title="Mouse broken", description="mouse mouse mouse")
    b = _make(1, title="Mouse", description="x")
    assert _find(agent_client, "mouse", sort="created", dir="desc") == [b.number, a.number]


def test_matches_are_highlighted_and_the_title_stays_escaped(agent_client):
    _make(1, title="<b>Webcam</b> & <script>alert(1)</script> broken",
          description="The webcam shows a black image after the update.")  # fmt: skip
    response = agent_client.get("/tickets/", query_string={"q": "webcam"})
    text = response.text
    assert "&lt;b&gt;<mark>Webcam</mark>&lt;/b&gt; &amp; &lt;script&gt;" in text
    assert '<span class="snippet">' in text
    assert "<mark>webcam</mark>" in text
    assert script_risks(text) == []


@pytest.mark.parametrize(
    "typed",
    [
        '"unbalanced quote', 'also "unbalanced', '"', '""', "'", "-", "--", "-word", "or", "OR OR",
        "a or", "the and of", "*", "foo*", "title:foo", "NEAR(a b)", "a AND", "NOT", "(", ")",
        "^", "'; DROP TABLE tickets; --", '" OR 1=1 --', "1' OR '1'='1", "%", "_", "\\",
        "\x01\x02\x7f", "tab\there", "ünïcödé ß", "日本語", "🙂", "a" * 200, "x " * 100,
    ],
)  # fmt: skip
def test_hostile_or_odd_searches_answer_without_error(agent_client, typed):
    _make(1, title="Keyboard broken", description="A plain ticket.")
    response = agent_client.get("/tickets/", query_string={"q": typed})
    assert response.status_code == 200, typed
    assert script_risks(response.text) == []


def test_odd_searches_say_what_happened(agent_client):
    _make(1, title="Keyboard broken", description="A plain ticket.")
    long = agent_client.get("/tickets/", query_string={"q": "k" * 5000})
    assert long.status_code == 200
    assert "Search: Field cannot be longer than 200 characters" in long.text
    assert "Keyboard broken" in long.text  # the search was ignored, the list shown
    nothing = agent_client.get("/tickets/", query_string={"q": "%%% ---"})
    assert "has no letters or digits to look for" in nothing.text
    only_negative = agent_client.get("/tickets/", query_string={"q": "-keyboard"})
    assert only_negative.status_code == 200
    stop_words = agent_client.get("/tickets/", query_string={"q": "the and"})
    assert stop_words.status_code == 200
    if search.engine_kind() == "postgresql":
        assert "only very common words" in stop_words.text


def test_fts5_translation_quotes_every_term():
    assert search.fts5_query('printer "paper jam" -scanner or fax') == (
        '(("printer") AND ("paper jam" OR "fax")) NOT "scanner"'
    )
    # Column filters, NEAR and prefix stars are not operators here, only words.
    assert search.fts5_query("title:foo NEAR(a b) *") == '("title foo") AND ("NEAR a") AND ("b")'
    assert search.fts5_query("-only -negatives") == ""
    assert search.fts5_query('say "hi') == '("say") AND ("hi")'
    assert search.fts5_query('a"b') == '("a b")'


def test_the_like_fallback_searches_without_fts(app, agent_client):
    # A SQLite built without FTS5 falls back to substring matching (unranked).
    app.extensions["supportdesk.search"] = {"kind": "like"}
    try:
        ticket = _make(1, title="Gizmo fails", description="Plain.")
        _make(2, title="Other", description="Other.")
        assert _find(agent_client, "izmo") == [ticket.number]
    finally:
        app.extensions.pop("supportdesk.search")


def test_a_capped_search_never_claims_an_exact_count():
    from supportdesk.tickets.queries import COUNT_CAP

    assert search.CANDIDATES > COUNT_CAP  # so the page says "1,000+" when the cap was hit


def test_a_common_search_lists_the_newest_matches_and_a_rare_one_every_match(
    agent_client, monkeypatch
):
    # Scaled down: more than PROBE matches means only the newest CANDIDATES are ranked.
    monkeypatch.setattr(search, "PROBE", 4)
    monkeypatch.setattr(search, "CANDIDATES", 2)
    common = [_make(i, title="Common widget", description="x") for i in range(6)]
    rare = [_make(10 + i, title="Rare gadget", description="x") for i in range(3)]
    assert sorted(_find(agent_client, "widget")) == sorted(t.number for t in common[:2])
    assert sorted(_find(agent_client, "gadget")) == sorted(t.number for t in rare)
