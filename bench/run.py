"""`make bench`: seed (or reuse) PostgreSQL, serve with gunicorn, drive a bounded load.

Settings (environment): SUPPORTDESK_BENCH_PG_URL, BENCH_TICKETS (1,000,000), BENCH_SCENARIOS
(a comma-separated subset; such a run leaves docs/benchmarks.md alone),
BENCH_DURATION (15 s per scenario), BENCH_WARMUP (3 s), BENCH_CONCURRENCY (4),
BENCH_WORKERS (2). Only 127.0.0.1 is ever contacted; every process started is stopped.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import sqlalchemy as sa
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import (  # noqa: E402
    Scenario,
    parse_server_timing,
    render_table,
    summarize,
    update_readme,
    write_results,
)
from supportdesk.seed import LAYOUT  # noqa: E402

BIN = Path(sys.executable).parent
TICKETS = int(os.environ.get("BENCH_TICKETS", "1000000"))
DURATION = float(os.environ.get("BENCH_DURATION", "15"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
SEED = 42
# One database per desk size, so the scaling runs (100k, 1M, 5M) keep each other's seed.
DB_NAME = "supportdesk_bench" if TICKETS == 1_000_000 else f"supportdesk_bench_{TICKETS}"
EMAIL, PASSWORD = "bench-agent@example.com", "bench password 1234"
ADMIN_URL = os.environ.get(
    "SUPPORTDESK_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return str(ScriptDirectory.from_config(config).get_current_head())


def _same_data(stored: str | None, wanted: str) -> bool:
    """Whether the stored seed parameters differ from ``wanted`` in the schema only."""
    try:
        old, new = json.loads(stored or ""), json.loads(wanted)
    except ValueError:
        return False
    return {k: v for k, v in old.items() if k != "schema"} == {
        k: v for k, v in new.items() if k != "schema"
    }


def prepare_database() -> tuple[str, float | None]:
    """Create, migrate and seed the bench database unless an identical one exists."""
    admin_url = sa.make_url(ADMIN_URL)
    url = admin_url.set(drivername="postgresql+psycopg2", database=DB_NAME)
    params = json.dumps({"tickets": TICKETS, "seed": SEED, "layout": LAYOUT,
                         "schema": head_revision()})  # fmt: skip
    conn = psycopg2.connect(admin_url.set(drivername="postgresql").render_as_string(False))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (DB_NAME,),
        )
        row = cur.fetchone()
        if row is not None and row[0] == params:
            log(f"reusing {DB_NAME} ({TICKETS:,} tickets, schema {head_revision()})")
            conn.close()
            return url.render_as_string(hide_password=False), None
        if row is not None and _same_data(row[0], params):
            # Seeded by this seed at an older schema: migrate it forward (which is also
            # what a desk of this size does on upgrade) instead of seeding again.
            log(f"migrating {DB_NAME} to {head_revision()} ({TICKETS:,} tickets)")
            rendered = url.render_as_string(hide_password=False)
            started = time.perf_counter()
            subprocess.run([BIN / "flask", "db", "upgrade"], env=app_env(rendered), cwd=ROOT,
                           check=True, capture_output=True)  # fmt: skip
            log(f"migrated in {time.perf_counter() - started:.1f} s")
            cur.execute(f'COMMENT ON DATABASE "{DB_NAME}" IS %s', (params,))
            conn.close()
            return rendered, None
        if row is not None:
            log(f"{DB_NAME} was seeded with other parameters; recreating it")
            cur.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    rendered = url.render_as_string(hide_password=False)
    env = app_env(rendered)
    subprocess.run([BIN / "flask", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    log(f"seeding {TICKETS:,} tickets")
    started = time.perf_counter()
    subprocess.run([BIN / "flask", "seed", "--tickets", str(TICKETS), "--seed", str(SEED)],
                   env=env, cwd=ROOT, check=True)  # fmt: skip
    seed_seconds = time.perf_counter() - started
    # A live desk of this size is vacuumed by autovacuum; settle the fresh data the same
    # way before measuring (timed on its own, not as seeding).
    started = time.perf_counter()
    with conn.cursor() as cur:
        vacuum = psycopg2.connect(url.set(drivername="postgresql").render_as_string(False))
        vacuum.autocommit = True
        with vacuum.cursor() as vcur:
            vcur.execute("VACUUM ANALYZE")
        vacuum.close()
    log(f"VACUUM ANALYZE took {time.perf_counter() - started:.1f} s")
    subprocess.run(
        [BIN / "flask", "create-user", EMAIL, "--name", "Bench Agent", "--password-stdin"],
        env=env, cwd=ROOT, check=True, input=PASSWORD + "\n", text=True, capture_output=True,
    )  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(f'COMMENT ON DATABASE "{DB_NAME}" IS %s', (params,))
    conn.close()
    log(f"seeded in {seed_seconds:.1f} s")
    return rendered, seed_seconds


SECRET = secrets.token_hex(32)


def app_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTDESK_")}
    env.update(
        FLASK_APP="wsgi:app",
        SUPPORTDESK_DATABASE_URL=database_url,
        SUPPORTDESK_SECRET_KEY=SECRET,
        SUPPORTDESK_ENV="production",
        SUPPORTDESK_QUERY_STATS="1",  # only for the bench: the figures come from the headers
        SUPPORTDESK_WORKERS=str(WORKERS),
        SUPPORTDESK_MAIL_FROM="Acme Support <support@acme.example>",  # mail_in's desk address
        # Every load thread logs in as the bench agent from 127.0.0.1 (4 per scenario): the
        # login limits (5 a minute per address and account) would answer 429 by the third.
        SUPPORTDESK_LOGIN_RATE_LIMIT="10000 per minute",
        SUPPORTDESK_LOGIN_ACCOUNT_RATE_LIMIT="10000 per minute",
        # One token drives the api_* scenarios: its limit would turn them into 429s.
        SUPPORTDESK_API_RATE_LIMIT="1000000 per minute",
    )
    return env


@dataclass
class Inputs:
    """What the scenarios request, chosen once from the data."""

    tag_id: int
    ticket_numbers: list[int]
    deep_cursor: str
    deep_pages: int
    edit_numbers: list[int]
    comment_numbers: list[int]
    floors: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    api_token: str = ""  # the bench user's read token (the api_* scenarios)


def bench_token(email: str) -> str:
    """Make a fresh read token for the bench user (its earlier ones revoked)."""
    from supportdesk.audit.context import acting_as
    from supportdesk.db import unit_of_work, utcnow
    from supportdesk.extensions import db
    from supportdesk.users import tokens
    from supportdesk.users.models import ApiToken, TokenScope, User

    with acting_as("bench"), unit_of_work():
        user = db.session.scalars(sa.select(User).where(User.email == email)).one()
        for old in db.session.scalars(sa.select(ApiToken).where(
                ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):  # fmt: skip
            old.revoked_at = utcnow()
        return tokens.create_token(user, name="bench", scope=TokenScope.READ).secret


def api_headers(inputs: Inputs) -> dict[str, str]:
    return {"Authorization": f"Bearer {inputs.api_token}"}


def choose_inputs(database_url: str, *, floors: bool = True) -> Inputs:
    """Pick targets, and measure each page's raw-SQL floor through psycopg2 (``floors``)."""
    os.environ.update({k: v for k, v in app_env(database_url).items()
                       if k.startswith("SUPPORTDESK_")})  # fmt: skip
    from supportdesk import create_app
    from supportdesk.extensions import db
    from supportdesk.models import Comment, Tag, Ticket, TicketStatus, User, ticket_tags
    from supportdesk.tickets.queries import PAGE_SIZE, encode_cursor

    app = create_app({"WTF_CSRF_ENABLED": False})
    rng = random.Random(SEED)
    with app.app_context():
        s = db.session
        counts = {
            "tickets": s.scalar(sa.select(sa.func.count()).select_from(Ticket)),
            "comments": s.scalar(sa.select(sa.func.count()).select_from(Comment)),
            "tags": s.scalar(sa.select(sa.func.count()).select_from(Tag)),
            "staff": s.scalar(sa.select(sa.func.count()).select_from(User)),
            "tag_links": s.scalar(sa.select(sa.func.count()).select_from(ticket_tags)),
        }
        tag_id = s.scalar(
            sa.select(ticket_tags.c.tag_id).group_by(ticket_tags.c.tag_id)
            .order_by(sa.func.count().desc()).limit(1)
        )  # fmt: skip
        max_number = s.scalar(sa.select(sa.func.max(Ticket.number)))
        min_number = s.scalar(sa.select(sa.func.min(Ticket.number)))
        sample = rng.sample(range(min_number, max_number + 1), min(2000, counts["tickets"]))
        with_comments = list(s.scalars(
            sa.select(Ticket.number).where(Ticket.number.in_(sample))
            .where(sa.select(Comment.id).where(Comment.ticket_id == Ticket.id).exists())
            .limit(300)
        ))  # fmt: skip
        live = s.scalar(sa.select(sa.func.count()).where(Ticket.deleted_at.is_(None)))
        deep_pages = min(40_000, max(1, live // PAGE_SIZE - 1))
        anchor = s.scalars(
            sa.select(Ticket).where(Ticket.deleted_at.is_(None))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .offset(deep_pages * PAGE_SIZE - 1).limit(1)
        ).one()  # fmt: skip
        deep_cursor = encode_cursor(
            SECRET, (anchor.created_at, anchor.id), "created", "desc", "next"
        )
        open_numbers = list(s.scalars(
            sa.select(Ticket.number).where(Ticket.status == TicketStatus.OPEN)
            .order_by(Ticket.number).limit(CONCURRENCY * 40)
        ))  # fmt: skip
        user_id = s.scalar(sa.select(User.id).where(User.email == EMAIL))
        api_token = bench_token(EMAIL)
    inputs = Inputs(
        tag_id=tag_id,
        ticket_numbers=with_comments,
        deep_cursor=deep_cursor,
        deep_pages=deep_pages,
        edit_numbers=open_numbers[: CONCURRENCY * 20],
        comment_numbers=open_numbers[CONCURRENCY * 20 :] or open_numbers,
        counts=counts,
        api_token=api_token,
    )
    if floors:
        inputs.floors = measure_floors(app, inputs, user_id)
    return inputs


def scenario_paths(inputs: Inputs) -> dict[str, str]:
    return {
        "list": "/tickets/?status=open",
        "list_filtered": f"/tickets/?status=open&priority=high&tag={inputs.tag_id}",
        "list_deep": "/tickets/?" + urllib.parse.urlencode({"cursor": inputs.deep_cursor}),
        "ticket": f"/tickets/{inputs.ticket_numbers[0]}",
        # A word in ~200 of 1M titles (seed.RARE_WORDS) and one in most descriptions and
        # replies: the cheapest and the dearest searches the seeded desk allows.
        "search_rare": "/tickets/?q=quokkaflow",
        "search_common": "/tickets/?q=error",
        "reports": "/reports/",
        # The same figures computed on every request (what `reports` shares for
        # SUPPORTDESK_REPORTS_MAX_AGE_S): the cost of the live computation under load.
        "reports_live": "/reports/?recompute=y",
        # The API's list and ticket (a read token): the same queries as the pages above.
        "api_list": "/api/v1/tickets?status=open",
        "api_ticket": f"/api/v1/tickets/{inputs.ticket_numbers[0]}",
    }


def measure_floors(app: Any, inputs: Inputs, user_id: int) -> dict[str, float]:
    """Capture each scenario's SQL in-process, then replay it through psycopg2 in a loop.

    Writes (edit, comment) are replayed inside a transaction that is rolled back each time.
    """
    from supportdesk.extensions import db

    captured: list[tuple[str, Any, bool]] = []
    capturing = threading.Event()

    with app.app_context():
        engine = db.engine

        @sa.event.listens_for(engine, "before_cursor_execute")
        def capture(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            if capturing.is_set():
                captured.append((statement, params, many))

        client = app.test_client()
        client.post("/login", data={"email": EMAIL, "password": PASSWORD})
        requests: dict[str, Callable[[], Any]] = {
            name: (lambda p=path, n=name: client.get(
                p, headers=api_headers(inputs) if n.startswith("api_") else None))
            for name, path in scenario_paths(inputs).items()
        }  # fmt: skip
        number = inputs.edit_numbers[-1]

        def edit() -> Any:
            page = client.get(f"/tickets/{number}/edit").text
            version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
            capturing.set()
            return client.post(f"/tickets/{number}/edit", data={
                "title": f"Bench edit {number}", "description": "bench", "status": "in_progress",
                "priority": "medium", "assignee": "", "version": version})  # fmt: skip

        requests["edit"] = edit
        requests["comment"] = lambda: client.post(
            f"/tickets/{inputs.comment_numbers[-1]}/comments",
            data={"body": "bench floor", "is_internal": "y"},
        )
        requests["reply_mail"] = lambda: client.post(
            f"/tickets/{inputs.comment_numbers[-1]}/comments", data={"body": "bench floor"}
        )
        statements: dict[str, list[tuple[str, Any, bool]]] = {}
        for name, send in requests.items():
            if name == "reports":
                send()  # computes and stores the figures: the scenario measures sharing them
            captured.clear()
            if name not in ("edit",):
                capturing.set()
            response = send()
            capturing.clear()
            assert response.status_code in (200, 303), (name, response.status_code)
            statements[name] = [
                item for item in captured
                if not item[0].lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))
            ]  # fmt: skip
        sa.event.remove(engine, "before_cursor_execute", capture)
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    floors: dict[str, float] = {}
    conn = psycopg2.connect(dsn)
    try:
        for name, stmts in statements.items():
            timings = []
            for attempt in range(60):
                with conn.cursor() as cur:
                    started = time.perf_counter()
                    for sql, params, many in stmts:
                        if "INSERT INTO mail_messages" in sql and isinstance(params, dict):
                            # Message-IDs are unique per ticket: each replay makes its own.
                            params = dict(params, message_id=f"<bench{attempt}@bench>")
                        # "insertmanyvalues" batches report executemany with one dict
                        if many and isinstance(params, list | tuple):
                            cur.executemany(sql, params)
                        else:
                            cur.execute(sql, params)
                        if cur.description is not None:
                            cur.fetchall()
                    timings.append((time.perf_counter() - started) * 1000)
                conn.rollback()
            timings.sort()
            floors[name] = timings[len(timings) // 2]  # the median run of the page's SQL
    finally:
        conn.close()
    return floors


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Session:
    """One keep-alive HTTP connection with its own cookies."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, form: dict[str, Any] | None = None,
             extra: dict[str, str] | None = None) -> Any:  # fmt: skip
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        headers.update(extra or {})
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response, data.decode("utf-8", "replace")

    def csrf(self, page: str) -> str:
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def login(self) -> str:
        _, page = self.send("GET", "/login")
        token = self.csrf(page)
        form = {"email": EMAIL, "password": PASSWORD, "csrf_token": token}
        response, _ = self.send("POST", "/login", form)
        assert response.status == 303, response.status
        # Logging in starts a new session (no fixation), and with it a new CSRF token.
        _, page = self.send("GET", "/tickets/new")
        return self.csrf(page)


def drive(port: int, name: str, inputs: Inputs) -> Scenario:
    """Run one scenario: CONCURRENCY threads for WARMUP + DURATION seconds."""
    latencies: list[float] = []
    statements: list[int] = []
    sql_ms: list[float] = []
    server_ms: list[float] = []
    splits: list[dict[str, float]] = []
    errors = [0]
    lock = threading.Lock()
    paths = scenario_paths(inputs)
    start = time.perf_counter()
    measure_from, stop_at = start + WARMUP, start + WARMUP + DURATION

    def worker(index: int) -> None:
        rng = random.Random(index)
        session = Session(port)
        token = session.login()
        versions: dict[int, int] = {}
        mine = inputs.edit_numbers[index::CONCURRENCY]
        if name == "edit":
            for number in mine:
                _, page = session.send("GET", f"/tickets/{number}/edit")
                versions[number] = int(
                    re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
                )
        flip = 0
        while (now := time.perf_counter()) < stop_at:
            expected = 200
            extra = api_headers(inputs) if name.startswith("api_") else None
            if name == "ticket":
                request = ("GET", f"/tickets/{rng.choice(inputs.ticket_numbers)}", None)
            elif name == "api_ticket":
                request = ("GET", f"/api/v1/tickets/{rng.choice(inputs.ticket_numbers)}", None)
            elif name == "edit":
                number = mine[flip % len(mine)]
                flip += 1
                status = "in_progress" if (versions[number] % 2) else "open"
                request = ("POST", f"/tickets/{number}/edit", {
                    "csrf_token": token, "title": f"Bench edit {number}", "description": "bench",
                    "status": status, "priority": "medium", "assignee": "",
                    "version": versions[number]})  # fmt: skip
                expected = 303
            elif name in ("comment", "reply_mail"):
                # comment: an internal note (no email); reply_mail: a public reply, emailed
                # to the requester and CCs by the worker running meanwhile.
                number = rng.choice(inputs.comment_numbers)
                form = {"csrf_token": token, "body": f"bench comment {rng.random()}"}
                if name == "comment":
                    form["is_internal"] = "y"
                request = ("POST", f"/tickets/{number}/comments", form)
                expected = 303
            else:
                request = ("GET", paths[name], None)
                if name == "reports_live":
                    expected = 303  # computed and stored, then back to the plain URL
            try:
                began = time.perf_counter()
                response, _ = session.send(*request, extra=extra)
                elapsed = (time.perf_counter() - began) * 1000
                ok = response.status == expected
                if name == "edit" and ok:
                    versions[number] += 1
            except (OSError, http.client.HTTPException):
                ok, response = False, None
                session = Session(port)
                token = session.login()
            if now < measure_from:
                continue
            with lock:
                if not ok:
                    errors[0] += 1
                    continue
                latencies.append(elapsed)
                statements.append(int(response.headers.get("X-DB-Query-Count", "0")))
                sql_ms.append(float(response.headers.get("X-DB-Query-Time-Ms", "0")))
                timing = parse_server_timing(response.headers.get("Server-Timing", ""))
                if "app" in timing:
                    server_ms.append(timing.pop("app"))
                    splits.append(timing)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WARMUP + DURATION + 60)
    return summarize(name, latencies, seconds=DURATION, errors=errors[0],
                     statements=statements, sql_ms=sql_ms, server_ms=server_ms,
                     floor_ms=inputs.floors.get(name, 0.0), splits=splits)  # fmt: skip


class CountingSink:
    """An SMTP server on loopback that counts what it is given (aiosmtpd)."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


def outbox_left(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text(
                "SELECT count(*) FROM mail_deliveries WHERE state IN ('queued', 'retrying',"
                " 'sending')")))  # fmt: skip
    finally:
        engine.dispose()


def drive_with_worker(port: int, inputs: Inputs, env: dict[str, str], sink: CountingSink,
                      database_url: str) -> tuple[Scenario, dict[str, float]]:  # fmt: skip
    """Run reply_mail with one `flask worker` delivering to the sink; measure the worker."""
    before = sink.count
    worker = subprocess.Popen([BIN / "flask", "worker", "--interval", "1"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        started = time.perf_counter()
        scenario = drive(port, "reply_mail", inputs)
        during = sink.count - before
        deadline = time.perf_counter() + 120
        while outbox_left(database_url) and time.perf_counter() < deadline:
            time.sleep(0.5)
        drained = time.perf_counter() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    delivered = sink.count - before
    figures = {"messages": delivered, "during_scenario": during,
               "seconds_to_drain": round(drained, 1),
               "messages_per_s": round(delivered / drained, 1) if drained else 0.0}  # fmt: skip
    return scenario, figures


PAGE_SCENARIOS = ("list", "list_filtered", "list_deep", "ticket", "edit", "comment",
                  "search_rare", "search_common", "reports", "reports_live", "api_list",
                  "api_ticket")  # fmt: skip
# BENCH_SCENARIOS=reports_live,ticket: only these (and reply_mail, mail_in when named).
ONLY = tuple(name for name in os.environ.get("BENCH_SCENARIOS", "").split(",") if name)
_UNKNOWN = set(ONLY) - {*PAGE_SCENARIOS, "reply_mail", "mail_in"}
if _UNKNOWN:
    raise SystemExit(f"BENCH_SCENARIOS: no scenario named {', '.join(sorted(_UNKNOWN))}")
MAIL_IN = int(os.environ.get("BENCH_MAIL_IN", "10000"))


MAIL_IN_NICE = int(os.environ.get("BENCH_MAIL_IN_NICE", "10"))  # as the documented unit


def mail_in(env: dict[str, str], *args: str, nice: int = 0) -> subprocess.Popen[str]:
    """Start bench/mail_in.py (receive() in one process) against the bench database."""
    command = [sys.executable, "-m", "bench.mail_in", *args]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=(lambda: os.nice(nice)) if nice else None)  # fmt: skip


def drive_mail_in(port: int, inputs: Inputs, env: dict[str, str],
                  idle: dict[str, Scenario]) -> tuple[list[Scenario], dict[str, Any]]:  # fmt: skip
    """mail_in alone (messages/s), then the list and ticket pages while mail comes in."""
    alone = mail_in(env, "--count", str(MAIL_IN))
    figures: dict[str, Any] = {
        "alone": json.loads(alone.communicate(timeout=1800)[0].split("\n")[1])
    }
    log(f"mail_in alone: {figures['alone']}")
    # Beside the pages the fetcher runs as deployed: niced (Nice=10 in the systemd unit),
    # so that on a small machine the pages get the CPU first and mail waits a little.
    busy = mail_in(env, "--count", str(MAIL_IN), "--seconds", str(2 * (WARMUP + DURATION)),
                   nice=MAIL_IN_NICE)  # fmt: skip
    figures["nice"] = MAIL_IN_NICE
    assert busy.stdout is not None
    busy.stdout.readline()  # {"ready": n}: it is receiving from now on
    scenarios = []
    try:
        for name in ("list", "ticket"):
            scenario = drive(port, name, inputs)
            scenario.name = f"{name}_mail_in"
            scenarios.append(scenario)
    finally:
        figures["beside_pages"] = json.loads(busy.communicate(timeout=600)[0])
        figures["beside_pages"]["ran_past_the_pages"] = figures["beside_pages"]["seconds"] >= (
            2 * (WARMUP + DURATION) - 1
        )
    for scenario, name in zip(scenarios, ("list", "ticket"), strict=True):
        figures[f"{name}_p95_ratio"] = round(scenario.p95_ms / idle[name].p95_ms, 2)
    log(f"mail_in beside the pages: {figures}")
    return scenarios, figures


def peak_rss_mb(master_pid: int) -> float:
    """Return the largest peak RSS (VmHWM) among the gunicorn master's children."""
    peak = 0.0
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    for pid in children.read_text().split() if children.exists() else []:
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            match = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            if match:
                peak = max(peak, int(match.group(1)) / 1024)
    return peak


def main() -> int:
    database_url, seed_seconds = prepare_database()
    inputs = choose_inputs(database_url)
    port = free_port()
    env = app_env(database_url)
    env["SUPPORTDESK_BIND"] = f"127.0.0.1:{port}"
    sink = CountingSink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env["SUPPORTDESK_SMTP_URL"] = f"smtp://127.0.0.1:{smtp.port}"
    mail_figures: dict[str, float] = {}
    mail_in_figures: dict[str, Any] = {}
    log(f"starting gunicorn ({WORKERS} workers) on 127.0.0.1:{port}")
    # The server's log goes to a file: an unread pipe fills after 64 KB (a few dozen
    # tracebacks) and then blocks every worker mid-request.
    server_log = (ROOT / "bench" / "results" / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [BIN / "gunicorn", "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=server_log,
    )  # fmt: skip
    scenarios: list[Scenario] = []
    rss = 0.0
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health/database")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("gunicorn did not become healthy within 60 s")
            time.sleep(0.3)
        for name in PAGE_SCENARIOS:
            if ONLY and name not in ONLY:
                continue
            log(f"scenario {name}: {WARMUP:.0f} s warm-up + {DURATION:.0f} s")
            scenarios.append(drive(port, name, inputs))
        if not ONLY or "reply_mail" in ONLY:
            log(f"scenario reply_mail (with a worker): {WARMUP:.0f} s warm-up + {DURATION:.0f} s")
            scenario, mail_figures = drive_with_worker(port, inputs, env, sink, database_url)
            scenarios.append(scenario)
            log(f"worker: {mail_figures}")
        if MAIL_IN and (not ONLY or "mail_in" in ONLY):
            log(f"scenario mail_in: {MAIL_IN:,} messages through receive(), then pages beside it")
            busy, mail_in_figures = drive_mail_in(port, inputs, env,
                                                  {s.name: s for s in scenarios})  # fmt: skip
            scenarios.extend(busy)
        rss = peak_rss_mb(server.pid)
    finally:
        smtp.stop()
        server_log.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout.strip() or "nogit"  # fmt: skip
    stamp = f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{sha}"
    meta = {
        "dataset": inputs.counts,
        "settings": {
            "workers": WORKERS,
            "concurrency": CONCURRENCY,
            "duration_s": DURATION,
            "warmup_s": WARMUP,
            "deep_pages": inputs.deep_pages,
            "seed": SEED,
        },  # fmt: skip
        "seed_seconds": seed_seconds,
        "worker_rss_mb": rss,
        "mail_worker": mail_figures,
        "mail_in": mail_in_figures,
    }
    json_path, md_path = write_results(ROOT / "bench" / "results", stamp=stamp, meta=meta,
                                       scenarios=scenarios)  # fmt: skip
    markdown = md_path.read_text()
    print()
    print(render_table(scenarios))
    print(f"\nworker peak RSS {rss:.0f} MB; results: {json_path.relative_to(ROOT)}")
    print(f"mail worker: {mail_figures}")
    print(f"mail in: {mail_in_figures}")
    if ONLY:
        print(f"BENCH_SCENARIOS={','.join(ONLY)}: a partial run, docs/benchmarks.md left as it was")
    elif TICKETS >= 1_000_000 and update_readme(ROOT / "docs" / "benchmarks.md", markdown.strip()):
        print("docs/benchmarks.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
