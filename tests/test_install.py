"""The wheel, installed like a product (#23): built from a clean clone, installed into a
fresh venv outside the repository, migrated on SQLite and PostgreSQL, served by its own
gunicorn; and an upgrade from the previous version's wheel with the data kept."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.gunicorn_server import gunicorn
from tests.http import Browserless, Response

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _once(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("runs once, in the PostgreSQL part (it migrates a SQLite file too)")


TICKET_LINK = re.compile(r'href="/tickets/(\d+)"')
STYLESHEET = re.compile(r'href="(/static/css/app\.css\?v=[0-9a-f]{12})"')


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, check=False,  # noqa: S603
                          timeout=600, **kwargs)  # fmt: skip
    assert done.returncode == 0, f"{args}: {done.stdout[-1500:]}{done.stderr[-1500:]}"
    return done


def _git(*args: str, cwd: Path = ROOT) -> str:
    return _run(["git", *args], cwd=cwd).stdout.strip()  # noqa: S607


def build_wheel(commit: str, work: Path) -> Path:
    """Build the wheel of ``commit`` from a clean clone of this repository."""
    source = work / f"src-{commit[:8]}"
    _git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(source))
    _git("checkout", "--quiet", commit, cwd=source)
    out = work / f"dist-{commit[:8]}"
    # Without build isolation: hatchling is in the test tools (no download per run).
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "--wheel-dir", str(out), str(source)])  # fmt: skip
    (wheel,) = out.glob("supportdesk-*.whl")
    return wheel


def new_venv(path: Path, wheel: Path) -> Path:
    _run([sys.executable, "-m", "venv", str(path)])
    _run([str(path / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
          "--constraint", str(ROOT / "requirements.lock"), str(wheel)])  # fmt: skip
    return path / "bin"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(_git("rev-parse", "HEAD"), tmp_path_factory.mktemp("wheel"))


def _env(run: Path, database_url: str) -> dict[str, str]:
    """A clean environment: no variable of this test run points into the checkout."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("SUPPORTDESK_", "FLASK_", "PYTHON", "VIRTUAL_ENV"))}  # fmt: skip
    return dict(keep, SUPPORTDESK_DATABASE_URL=database_url,
                SUPPORTDESK_INSTANCE_DIR=str(run / "instance"),
                SUPPORTDESK_SECRET_KEY="installed-test-" + "k" * 40)  # fmt: skip


@pytest.fixture
def pg_database(temporary_postgres) -> Iterator[str]:
    url = temporary_postgres.create()
    yield url.render_as_string(hide_password=False)
    temporary_postgres.drop(url)


def test_the_wheel_carries_templates_static_files_and_migrations(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names
                            if n.endswith("entry_points.txt"))  # fmt: skip
    assert "supportdesk/templates/base.html" in names
    assert "supportdesk/static/css/app.css" in names
    assert "supportdesk/migrations/env.py" in names
    assert any(n.startswith("supportdesk/migrations/versions/") for n in names)
    assert "supportdesk/users/common_passwords.txt" in names
    assert "supportdesk = supportdesk.console:main" in entry_points
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size} bytes, {len(names)} files")  # noqa: T201


def test_an_installed_desk_migrates_and_serves_from_anywhere(wheel, tmp_path, pg_database):
    bin_dir = new_venv(tmp_path / "venv", wheel)
    run = tmp_path / "run"  # outside the repository, no checkout in sight
    run.mkdir()
    code = "import supportdesk.paths as p; print(p.TEMPLATES)"
    where = _run([str(bin_dir / "python"), "-c", code], cwd=run).stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), where
    version = _run([str(bin_dir / "supportdesk"), "--version"], cwd=run).stdout
    assert re.fullmatch(r"supportdesk \d+\.\d+\.\d+\n", version)

    sqlite_env = _env(run, f"sqlite:///{run / 'desk.db'}")
    _run([str(bin_dir / "supportdesk"), "db", "upgrade"], cwd=run, env=sqlite_env)
    env = _env(run, pg_database)
    upgraded = _run([str(bin_dir / "supportdesk"), "db", "upgrade"], cwd=run, env=env)
    assert "Running upgrade" in upgraded.stderr
    _run([str(bin_dir / "supportdesk"), "create-user", "admin@example.org", "--name", "Ada",
          "--admin", "--password-stdin"], cwd=run, env=env, input=PASSWORD + "\n")  # fmt: skip
    _run([str(bin_dir / "supportdesk"), "seed", "--tickets", "20"], cwd=run, env=env)

    with _served(bin_dir, env, run, tmp_path / "g.log") as (browser, page, number):
        assert f"<title>SD-{number} " in page.text  # the ticket the list linked to
        stylesheet = browser.request(STYLESHEET.search(page.text).group(1))
        assert stylesheet.status == 200
        assert stylesheet.headers["Content-Type"].startswith("text/css")
        assert stylesheet.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        health = browser.request("/health")
        assert '"version"' in health.text


@contextmanager
def _served(bin_dir: Path, env: dict[str, str], run: Path, log: Path
            ) -> Iterator[tuple[Browserless, Response, str]]:  # fmt: skip
    """Serve the installed desk with its own gunicorn; log in; open a ticket from the list."""
    command = [str(bin_dir / "gunicorn"), "-c", "python:supportdesk.gunicorn_conf"]
    served = dict(env, SUPPORTDESK_HTTPS="0")
    with gunicorn(served, workers=1, log=log, command=command, cwd=run) as server:
        browser = Browserless(server.url)
        browser.login("admin@example.org", PASSWORD)
        listing = browser.request("/tickets/")
        assert listing.status == 200
        number = TICKET_LINK.search(listing.text).group(1)
        page = browser.request(f"/tickets/{number}")
        assert page.status == 200
        yield browser, page, number


def _previous_packaged_commit() -> str | None:
    """The newest v* tag before HEAD, else HEAD's parent, if it builds a whole wheel."""
    head = _git("rev-parse", "HEAD")
    describe = ["git", "describe", "--tags", "--abbrev=0", "--match", "v*", "HEAD^"]
    tag = subprocess.run(describe, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                         check=False).stdout.strip()  # fmt: skip
    candidate = _git("rev-parse", f"{tag}^{{commit}}") if tag else _git("rev-parse", "HEAD^")
    if candidate == head:
        return None
    pyproject = _git("show", f"{candidate}:pyproject.toml")
    return candidate if '"templates" = "supportdesk/templates"' in pyproject else None


def test_upgrading_from_the_previous_wheel_keeps_the_data(wheel, tmp_path, pg_database):
    previous = _previous_packaged_commit()
    if previous is None:
        pytest.skip("no earlier commit or v* tag builds a packaged wheel yet")
    old_wheel = build_wheel(previous, tmp_path)
    bin_dir = new_venv(tmp_path / "venv", old_wheel)
    run = tmp_path / "run"
    run.mkdir()
    env = _env(run, pg_database)
    _run([str(bin_dir / "supportdesk"), "db", "upgrade"], cwd=run, env=env)
    _run([str(bin_dir / "supportdesk"), "create-user", "admin@example.org", "--name", "Ada",
          "--admin", "--password-stdin"], cwd=run, env=env, input=PASSWORD + "\n")  # fmt: skip
    _run([str(bin_dir / "supportdesk"), "seed", "--tickets", "30"], cwd=run, env=env)

    _run([str(bin_dir / "pip"), "install", "--quiet", "--force-reinstall", "--no-deps",
          str(wheel)])  # fmt: skip
    _run([str(bin_dir / "pip"), "install", "--quiet", "--constraint",
          str(ROOT / "requirements.lock"), str(wheel)])  # new dependencies, if any  # fmt: skip
    _run([str(bin_dir / "supportdesk"), "db", "upgrade"], cwd=run, env=env)
    check = _run([str(bin_dir / "supportdesk"), "audit", "verify"], cwd=run, env=env)
    assert check.stdout.startswith("OK")
    with _served(bin_dir, env, run, tmp_path / "g.log"):
        assert _count_tickets(run, env, bin_dir) == 30


def _count_tickets(run: Path, env: dict[str, str], bin_dir: Path) -> int:
    code = ("from supportdesk import create_app\nfrom supportdesk.extensions import db\n"
            "import sqlalchemy as sa\nwith create_app().app_context():\n"
            "    print(db.session.scalar(sa.text('SELECT count(*) FROM tickets')))")  # fmt: skip
    return int(_run([str(bin_dir / "python"), "-c", code], cwd=run, env=env).stdout)
