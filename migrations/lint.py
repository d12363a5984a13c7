"""Lint the PostgreSQL SQL of every revision with squawk (``make lint-migrations``).

Each revision's SQL is produced offline (``flask db upgrade <down>:<rev> --sql`` on a
PostgreSQL URL that is never connected to) into ``build/migrations-sql/<rev>.sql`` and
checked by squawk with ``.squawk.toml``. A revision may waive a rule only by naming it in
a module-level ``SQUAWK_WAIVERS = {"rule": "why"}``; the reason is written into the SQL
as squawk's ``-- squawk-ignore-file`` comment. A waiver whose rule no longer fires fails
the check too, so waivers cannot outlive their reason.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "migrations-sql"
OFFLINE_URL = "postgresql+psycopg2://lint@127.0.0.1:1/never-connected"


def _waivers(path: Path) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location(f"_revision_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path.name}: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    waivers = getattr(module, "SQUAWK_WAIVERS", {})
    for rule, why in waivers.items():
        if not str(why).strip():
            raise SystemExit(f"{path.name}: the waiver of {rule} needs a reason")
    return waivers


def _revision_sql() -> list[tuple[str, Path, str]]:
    """Return (revision, file, SQL) for every revision, base first."""
    import flask_migrate
    from alembic.script import ScriptDirectory

    from supportdesk import MIGRATIONS_DIR, create_app

    app = create_app({"DATABASE_URL": OFFLINE_URL, "SECRET_KEY": "lint-only"})
    found = []
    with app.app_context():
        config = flask_migrate.Migrate(app).get_config(str(MIGRATIONS_DIR))
        script = ScriptDirectory.from_config(config)
        for revision in reversed(list(script.walk_revisions())):
            down = revision.down_revision or "base"
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                flask_migrate.upgrade(revision=f"{down}:{revision.revision}", sql=True)
            found.append((revision.revision, Path(revision.path), buffer.getvalue()))
    return found


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*.sql"):
        stale.unlink()
    files, waived = [], {}
    for revision, path, sql in _revision_sql():
        waivers = _waivers(path)
        header = "".join(
            f"-- squawk-ignore-file {rule} -- {why}\n" for rule, why in waivers.items()
        )
        target = OUT / f"{revision}.sql"
        target.write_text(header + sql)
        files.append(target)
        waived[target.name] = (path.name, waivers)
    found = problems(files)
    for item in found:
        name = Path(item["file"]).name
        line = item["line"] + 1  # squawk counts lines from 0
        print(
            f"{waived[name][0]} ({target_sql(name)}:{line}): {item['rule_name']}: {item['message']}"
        )  # noqa: T201
    stale = _stale_waivers(files, waived)
    for message in stale:
        print(message)  # noqa: T201
    total = len(files)
    print(f"squawk: {total} revisions, {len(found)} problems, {len(stale)} stale waivers")  # noqa: T201
    return 1 if found or stale else 0


def problems(files: list[Path]) -> list[dict]:
    """Run squawk on ``files``; return its findings (squawk failing to run is an error)."""
    squawk = Path(sys.executable).with_name("squawk")
    result = subprocess.run(  # noqa: S603 - our own venv's squawk on our own files
        [str(squawk), "--config", str(ROOT / ".squawk.toml"), "--reporter", "json",
         *map(str, files)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = json.loads(result.stdout or "[]") if result.stdout.strip() else []
    if result.returncode not in (0, 1) or (result.returncode == 1 and not found):
        raise SystemExit(f"squawk failed to run: {result.stderr.strip()}")
    return found


def target_sql(name: str) -> str:
    """Return the generated SQL file's path relative to the project (for the message)."""
    return str((OUT / name).relative_to(ROOT))


def _stale_waivers(files: list[Path], waived: dict[str, tuple[str, dict[str, str]]]) -> list[str]:
    """Re-lint each waiving revision without its waivers: every waived rule must fire."""
    stale = []
    for target in files:
        source, waivers = waived[target.name]
        if not waivers:
            continue
        bare = target.with_suffix(".unwaived")
        bare.write_text("".join(line for line in target.read_text().splitlines(keepends=True)
                                if not line.startswith("-- squawk-ignore-file")))  # fmt: skip
        fired = {item["rule_name"] for item in problems([bare])}
        stale += [f"{source}: waiver of {rule} is stale (the rule no longer fires)"
                  for rule in waivers if rule not in fired]  # fmt: skip
        bare.unlink()
    return stale


if __name__ == "__main__":
    sys.exit(main())
