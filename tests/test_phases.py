"""`make test` splits the PostgreSQL pass in two: every test file runs in exactly one part."""

from pathlib import Path

from tests.conftest import HEAVY_FILES, in_part

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_file_is_in_exactly_one_part_and_the_heavy_ones_exist():
    files = [p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(files) > 50
    for path in files:
        assert in_part("heavy", path) != in_part("rest", path), path
        assert in_part("all", path)
    for path in HEAVY_FILES:
        assert (ROOT / path).is_file(), f"{path} is listed in HEAVY_FILES but does not exist"
    assert sum(in_part("heavy", p) for p in files) == len(HEAVY_FILES)
