"""The manual stays true: every setting the code reads is documented, and only those.

"Read" means: a key of ``config.SETTINGS`` (read as ``SUPPORTDESK_<KEY>``), a
``f"{PREFIX}NAME"`` lookup, or a literal ``SUPPORTDESK_NAME`` in the code that reads the
environment (the package, gunicorn.conf.py, migrations/env.py, the tests' and the bench's
own settings). "Documented" means: named anywhere in ``docs/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from supportdesk.config import PREFIX, SETTINGS

TOP = Path(__file__).resolve().parent.parent
NAME = re.compile(r"\bSUPPORTDESK_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
PREFIXED = re.compile(r"\{PREFIX\}([A-Z][A-Z0-9_]*)")
READERS = ["supportdesk/**/*.py", "wsgi.py", "migrations/env.py",
           "tests/conftest.py", "bench/*.py", "Makefile"]  # fmt: skip


def _read_by_code() -> set[str]:
    names = {PREFIX + key for key in SETTINGS}
    for pattern in READERS:
        for path in TOP.glob(pattern):
            text = path.read_text()
            names |= set(NAME.findall(text))
            names |= {PREFIX + n for n in PREFIXED.findall(text)}
    return names


def _documented() -> set[str]:
    return {name for path in (TOP / "docs").glob("*.md") for name in NAME.findall(path.read_text())}


def test_every_setting_the_code_reads_is_documented():
    assert sorted(_read_by_code() - _documented()) == []


def test_every_documented_setting_is_read_by_the_code():
    assert sorted(_documented() - _read_by_code()) == []


def test_the_readme_is_a_front_door():
    readme = (TOP / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "make run" in readme
    assert "make test" in readme
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (TOP / link).is_file(), link
