"""``/api/v1/``: tickets, comments, tags, customers, users, audit and reports as JSON.

Each view parses its input through a schema (flask-smorest/webargs: 422 with a field
map), calls the same query or service the web pages use, and answers JSON. Writes run in
one transaction committed by :func:`auth.writes`; errors are problem details.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http
import re
from typing import Any, cast
from urllib.parse import urlencode

from flask import Blueprint as FlaskBlueprint
from flask import abort, current_app, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint
from sqlalchemy.orm.exc import StaleDataError

from supportdesk import paging
from supportdesk.api import auth, present
from supportdesk.api import schemas as s
from supportdesk.api.openapi import PREFIX, api
from supportdesk.audit import queries as audit_queries
from supportdesk.customers import queries as customer_queries
from supportdesk.desk import service as desk
from supportdesk.errors import ConflictError, DomainError, NotFoundError, problem
from supportdesk.extensions import csrf, limiter
from supportdesk.paging import InvalidCursorError
from supportdesk.replicas import last_write_at, reading_replica
from supportdesk.reports.queries import ReportScope
from supportdesk.reports.snapshots import report_for, to_payload
from supportdesk.tags.queries import all_tags
from supportdesk.tickets import queries, search, service
from supportdesk.tickets.models import Comment, Ticket, TicketPriority, TicketStatus
from supportdesk.users.models import TokenScope
from supportdesk.users.service import staff_list

bp = Blueprint("api", __name__, url_prefix=PREFIX, description="The desk's REST API.")
bp.before_request(auth.authenticate)
csrf.exempt(bp)
limiter.limit(auth.rate_limit, key_func=auth.rate_limit_key)(bp)
# The browsable reference: a page for people, outside the token gate.
docs_bp = FlaskBlueprint("api_docs", __name__, url_prefix=PREFIX)
_IF_MATCH = re.compile(r'\s*(?:W/)?"(\d{1,9})"\s*')
MAX_REPORT_DAYS = 366


def documented(*codes: int) -> Any:
    """Name the operation (``api_<view>``) and list the problem responses it can give.

    Always 400 (a request no field can take: a NUL character, a body that is not JSON),
    401 and 429.
    """

    def document(view: Any) -> Any:
        for code in sorted({400, 401, 429, *codes}):
            view = bp.alt_response(code, response=_status_name(code))(view)
        return bp.doc(operationId=f"api_{view.__name__}")(view)

    return document


def _status_name(code: int) -> str:
    return http.HTTPStatus(code).name


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> ResponseReturnValue:
    code = 422
    if isinstance(error, service.StaleTicketError):
        code = 412
    elif isinstance(error, NotFoundError):
        code = 404
    elif isinstance(error, (ConflictError, service.TicketClosedError)):
        code = 409
    titles = {412: "Precondition Failed", 404: "Not Found", 409: "Conflict"}
    return problem(code, title=titles.get(code, "Unprocessable Content"), detail=str(error))


@bp.errorhandler(StaleDataError)
def _stale(_error: StaleDataError) -> ResponseReturnValue:
    return problem(
        412,
        title="Precondition Failed",
        detail="Someone else saved the ticket at the same moment; reload it.",
    )


def _invalid(field: str, message: str) -> None:
    abort(problem(422, title="Unprocessable Content", detail=message,
                  errors={field: [message]}))  # fmt: skip


def _next_link(cursor: str | None) -> dict[str, str]:
    if cursor is None:
        return {}
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
    url = request.path + "?" + urlencode([*args, ("cursor", cursor)])
    return {"Link": f'<{url}>; rel="next"'}


# --- tickets -------------------------------------------------------------------------


def ticket_filters(args: dict[str, Any]) -> queries.TicketFilters:
    """Turn the list's arguments into the web list's filters, refusing what it would drop."""
    user = auth.caller()
    if args["include_deleted"] and not user.is_admin:
        abort(problem(403, title="Forbidden", detail="Only admins can list deleted tickets."))
    q = args["q"].strip()
    sort = args["sort"] or ("relevance" if q else "created")
    if sort == "relevance" and not q:
        _invalid("sort", "Sorting by relevance needs a search (q).")
    filters = queries.TicketFilters(
        q=q, statuses=[TicketStatus(v) for v in args["status"]],
        priorities=[TicketPriority(v) for v in args["priority"]], assignee=args["assignee"] or "",
        tag_ids=list(args["tag"]), created_from=args["created_from"],
        created_to=args["created_to"], sort=sort, direction=args["dir"],
        include_deleted=args["include_deleted"], following=args["following"],
        requester_id=args["requester"],
    )  # fmt: skip
    if filters.search is not None and not filters.search.usable:
        _invalid("q", filters.search.problem or "This search cannot be used.")
    return filters


_FIRST_LISTED = {"number": "$response.body#/items/0/number"}
LISTED_LINKS = {
    "GetFirstTicket": {"operationId": "api_get_ticket", "parameters": _FIRST_LISTED},
    "ListFirstTicketsComments": {"operationId": "api_list_comments", "parameters": _FIRST_LISTED},
    "CommentOnFirstTicket": {"operationId": "api_add_comment", "parameters": _FIRST_LISTED},
}  # fmt: skip


@bp.get("/tickets")
@bp.arguments(s.TicketListArgs, location="query")
@bp.response(200, s.TicketPageSchema)
@bp.doc(responses={200: {"links": LISTED_LINKS}})
@documented(403, 422)
def list_tickets(args: dict[str, Any]) -> ResponseReturnValue:
    """List tickets: the web list's filters, search and order, one keyset-paged page.

    Follow the `Link: <…>; rel="next"` header (or `next_cursor`) for the next page.
    """
    filters = ticket_filters(args)
    options = queries.filter_options()
    try:
        with reading_replica() if filters.q else contextlib.nullcontext():
            page = queries.list_tickets(filters, user_id=auth.caller().id, tags=options.tags,
                                        secret=current_app.config["SECRET_KEY"],
                                        cursor=args["cursor"], limit=args["limit"])  # fmt: skip
    except InvalidCursorError as error:
        _invalid("cursor", str(error))
    if not args["cursor"] and search.only_stop_words(filters.search, found=bool(page.rows)):
        _invalid("q", search.STOP_WORDS_ONLY)
    items = [present.summary(row) for row in page.rows]
    return {"items": items, "next_cursor": page.next_cursor}, 200, _next_link(page.next_cursor)


def _ticket(number: int) -> Ticket:
    ticket = None
    if number <= s.ID_MAX:
        ticket = queries.ticket_for_edit(number, include_deleted=auth.caller().is_admin)
    if ticket is None:
        abort(problem(404, title="Not Found", detail=f"There is no ticket {number}."))
    return ticket


def _ticket_response(ticket: Ticket, code: int = 200) -> ResponseReturnValue:
    body = present.ticket(ticket, comment_count=queries.comment_count(ticket.id))
    headers = {"ETag": f'"{ticket.version}"'}
    if code == 201:
        headers["Location"] = url_for("api.get_ticket", number=ticket.number)
    return body, code, headers


# Path parameters with examples (the reference page, and schemathesis's explicit cases).
NUMBER = [{"in": "path", "name": "number", "description": "The ticket's number (SD-1042: 1042).",
           "schema": {"type": "integer", "minimum": 1}, "example": 1001}]  # fmt: skip
_ETAG = {"ETag": {"description": "The ticket's version, for If-Match.",
                  "schema": {"type": "string"}}}  # fmt: skip


@bp.get("/tickets/<int:number>", parameters=NUMBER)
@bp.response(200, s.TicketSchema, headers=_ETAG)
@documented(404)
def get_ticket(number: int) -> ResponseReturnValue:
    """Get a ticket by its number (admins also see it in the trash)."""
    return _ticket_response(_ticket(number))


# OpenAPI links: what a client (and schemathesis's stateful run) can do next with the
# ticket just created.
_NEW_TICKET = {"number": "$response.body#/number"}
CREATED_LINKS = {
    "GetTicket": {"operationId": "api_get_ticket", "parameters": _NEW_TICKET},
    "UpdateTicket": {"operationId": "api_update_ticket",
                     "parameters": {**_NEW_TICKET, "header.If-Match": "$response.header.ETag"}},
    "ListComments": {"operationId": "api_list_comments", "parameters": _NEW_TICKET},
    "AddComment": {"operationId": "api_add_comment", "parameters": _NEW_TICKET},
    "DeleteTicket": {"operationId": "api_delete_ticket", "parameters": _NEW_TICKET},
}  # fmt: skip


@bp.post("/tickets")
@auth.writes
@bp.arguments(s.TicketCreateSchema)
@bp.response(201, s.TicketSchema, headers=_ETAG)
@bp.doc(responses={201: {"links": CREATED_LINKS}})
@documented(400, 403, 409, 413, 415, 422)
def create_ticket(body: dict[str, Any]) -> ResponseReturnValue:
    """Create a ticket (send `Idempotency-Key` to make a retry safe)."""
    values = desk.TicketValues(
        title=body["title"], description=body["description"],
        status=TicketStatus(body["status"]), priority=TicketPriority(body["priority"]),
        assignee_id=body["assignee_id"], requester=body["requester"],
        cc=", ".join(body["cc"]), tag_ids=body["tag_ids"], due=body["due_at"],
    )  # fmt: skip
    made = desk.submit_ticket(values, actor=auth.caller(), files=[], form_token=None)
    return _ticket_response(_ticket(queries.ticket_number(made.ticket_id)), 201)


def _expected_version() -> int:
    header = request.headers.get("If-Match")
    if header is None:
        abort(problem(428, title="Precondition Required", detail="Send If-Match with the "
                      "ticket's ETag (its version), e.g. If-Match: \"3\"."))  # fmt: skip
    match = _IF_MATCH.fullmatch(header)
    if match is None:
        abort(
            problem(
                412,
                title="Precondition Failed",
                detail='If-Match must be the ticket\'s ETag, e.g. "3".',
            )
        )
    return int(match.group(1))


_IF_MATCH_PARAM = {"in": "header", "name": "If-Match", "required": True,
                   "schema": {"type": "string"}, "example": '"1"',
                   "description": "The ticket's ETag as last read, e.g. `\"3\"`."}  # fmt: skip


@bp.patch("/tickets/<int:number>", parameters=NUMBER)
@auth.writes
@bp.arguments(s.TicketPatchSchema)
@bp.response(200, s.TicketSchema, headers=_ETAG)
@bp.doc(parameters=[_IF_MATCH_PARAM])
@documented(400, 403, 404, 409, 412, 413, 415, 422, 428)
def update_ticket(body: dict[str, Any], number: int) -> ResponseReturnValue:
    """Change some of a ticket's fields; 412 if it changed since the ETag you send."""
    version = _expected_version()
    ticket = _ticket(number)
    desk.patch_ticket(ticket, body, actor=auth.caller(), expected_version=version)
    return _ticket_response(ticket)


@bp.delete("/tickets/<int:number>", parameters=NUMBER)
@auth.writes
@bp.response(204)
@documented(403, 404)
def delete_ticket(number: int) -> ResponseReturnValue:
    """Move a ticket to the trash (admins can restore it from the web)."""
    service.delete_ticket(_ticket(number), actor=auth.caller())
    return "", 204


# --- comments ------------------------------------------------------------------------


@bp.get("/tickets/<int:number>/comments", parameters=NUMBER)
@bp.arguments(s.PageArgs, location="query")
@bp.response(200, s.CommentPageSchema)
@documented(404, 422)
def list_comments(args: dict[str, Any], number: int) -> ResponseReturnValue:
    """List a ticket's replies and internal notes, oldest first."""
    ticket = _ticket(number)
    try:
        rows, after = queries.comment_page(ticket.id, secret=current_app.config["SECRET_KEY"],
                                           cursor=args["cursor"], limit=args["limit"])  # fmt: skip
    except InvalidCursorError as error:
        _invalid("cursor", str(error))
    return (
        {"items": [present.comment(c) for c in rows], "next_cursor": after},
        200,
        _next_link(after),
    )


@bp.post("/tickets/<int:number>/comments", parameters=NUMBER)
@auth.writes
@bp.arguments(s.CommentCreateSchema)
@bp.response(201, s.CommentSchema)
@documented(400, 403, 404, 409, 413, 415, 422)
def add_comment(body: dict[str, Any], number: int) -> ResponseReturnValue:
    """Add a public reply (mailed to the requester and CCs) or an internal note."""
    ticket = _ticket(number)
    made = desk.submit_reply(ticket, desk.ReplyValues(body["body"], body["internal"]),
                             actor=auth.caller(), files=[], form_token=None)  # fmt: skip
    # Without a macro a reply always makes a comment (the service refuses an empty one).
    return present.comment(cast(Comment, made.comment)), 201


# --- tags, users, customers, me -------------------------------------------------------


@bp.get("/tags")
@bp.response(200, s.TagSchema(many=True))
@documented(403)
def list_tags() -> ResponseReturnValue:
    """List every tag of the desk, by name."""
    return [{"id": t.id, "name": t.name, "colour": t.colour, "description": t.description}
            for t in all_tags()]  # fmt: skip


@bp.get("/users")
@bp.response(200, s.UserSchema(many=True))
@documented(403)
def list_users() -> ResponseReturnValue:
    """List every staff account, active first."""
    return [present.user(u) for u in staff_list() if not u.is_system]


@bp.get("/me")
@bp.response(200, s.MeSchema)
@documented(403)
def me() -> ResponseReturnValue:
    """Show the token in use and its owner."""
    return present.me(g.api_token)


@bp.get("/customers")
@bp.arguments(s.CustomerListArgs, location="query")
@bp.response(200, s.CustomerPageSchema)
@documented(403, 422)
def list_customers(args: dict[str, Any]) -> ResponseReturnValue:
    """List customers by address; `q` matches the start of an address or name."""
    try:
        rows, after = customer_queries.customer_page(
            args["q"], secret=current_app.config["SECRET_KEY"], cursor=args["cursor"],
            size=args["limit"])  # fmt: skip
    except InvalidCursorError as error:
        _invalid("cursor", str(error))
    return (
        {"items": [present.customer(c) for c in rows], "next_cursor": after},
        200,
        _next_link(after),
    )


@bp.get(
    "/customers/<int:customer_id>",
    parameters=[
        {
            "in": "path",
            "name": "customer_id",
            "schema": {"type": "integer", "minimum": 1},
            "example": 1,
        }
    ],
)
@bp.response(200, s.CustomerSchema)
@documented(403, 404)
def get_customer(customer_id: int) -> ResponseReturnValue:
    """Get one customer."""
    found = customer_queries.get_customer(customer_id) if customer_id <= s.ID_MAX else None
    if found is None:
        abort(problem(404, title="Not Found", detail=f"There is no customer {customer_id}."))
    return present.customer(found)


# --- audit and reports ---------------------------------------------------------------


@bp.get("/audit")
@auth.needs(TokenScope.ADMIN)
@bp.arguments(s.AuditListArgs, location="query")
@bp.response(200, s.AuditPageSchema)
@documented(403, 422)
def list_audit(args: dict[str, Any]) -> ResponseReturnValue:
    """List the audit trail, newest first (an admin's token with the admin scope)."""
    secret = current_app.config["SECRET_KEY"]
    before = None
    if args["cursor"]:
        try:
            before = _audit_cursor(secret, args["cursor"])
        except InvalidCursorError as error:
            _invalid("cursor", str(error))
    ticket_id = None
    if args["ticket"] is not None:
        ticket_id = queries.ticket_id_of(args["ticket"]) or -1
    filters = audit_queries.AuditFilters(
        actor_id=args["actor_id"], action=args["action"], entity_type=args["entity_type"],
        entity_id=args["entity_id"], ticket_id=ticket_id, since=args["since"],
        until=args["until"],
    )  # fmt: skip
    with reading_replica():
        rows, after = audit_queries.page(filters, before_id=before, limit=args["limit"])
    cursor = _encode_audit(secret, after) if after is not None else None
    return (
        {"items": [present.audit_entry(e) for e in rows], "next_cursor": cursor},
        200,
        (_next_link(cursor)),
    )


def _audit_cursor(secret: str, token: str) -> int:
    _, key = paging.decode_cursor(secret, token, scope="api-audit", kinds=("int",))
    return int(key[0])


def _encode_audit(secret: str, before: int) -> str:
    return paging.encode_cursor(secret, (before,), scope="api-audit")


@bp.get("/reports")
@bp.arguments(s.ReportArgs, location="query")
@bp.response(200, s.ReportSchema)
@documented(403, 422)
def get_report(args: dict[str, Any]) -> ResponseReturnValue:
    """Get the reports page's figures for a range (default: the last 30 days)."""
    end = args["date_to"] or dt.datetime.now(dt.UTC).date()
    start = args["date_from"] or end - dt.timedelta(days=29)
    if start > end:
        _invalid("date_from", "The range ends before it starts.")
    if (end - start).days + 1 > MAX_REPORT_DAYS:
        _invalid("date_from", f"A report covers at most {MAX_REPORT_DAYS} days.")
    scope = ReportScope(start=start, end=end, tag_id=args["tag"], assignee=args["assignee"] or "")
    shared = report_for(
        scope,
        max_age_s=current_app.config["REPORTS_MAX_AGE_S"],
        not_before=dt.datetime.fromtimestamp(last_write_at(), dt.UTC),
    )
    return {"date_from": start, "date_to": end, "computed_at": shared.computed_at,
            "figures": to_payload(shared.report)}  # fmt: skip


# --- the reference page --------------------------------------------------------------


@docs_bp.get("/docs")
def docs() -> ResponseReturnValue:
    """Show the API's reference, rendered on the server from the OpenAPI document."""
    spec = api.spec.to_dict() if api.spec is not None else {}
    return render_template("api/docs.html", spec=spec)
