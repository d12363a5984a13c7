"""Playwright fixtures: Debian's Chromium, headless; screenshots when a test fails."""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RESULTS = Path(__file__).resolve().parents[2] / "test-results"

pytestmark = pytest.mark.browser


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


AXE = RESULTS.parent / "node_modules" / "axe-core" / "axe.min.js"
# Evaluated through the DevTools protocol, which the page's CSP does not govern: these
# contexts keep the desk's real CSP (the XSS tests rely on it) and still run axe.
_AXE_RUN = """
;axe.run(document).then(r => ({passes: r.passes.length, violations: r.violations.map(v =>
  `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | ")}`)}))
"""
# Pages already checked this session, by shape (/tickets/N?q): one check per kind of page.
_AXE_SEEN: set[str] = set()


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[str]:
    """Run axe-core on the page as it is now; return its violations, any impact."""
    found = page.evaluate(_axe_source() + _AXE_RUN)
    assert found["passes"] >= 10  # axe ran its rules on this page
    return list(found["violations"])


def _shape(url: str) -> str:
    parts = urlsplit(url)
    path = re.sub(r"/[0-9]+(?=/|$)", "/N", parts.path)
    path = re.sub(r"/[A-Za-z0-9_-]{20,}(?=/|$)", "/T", path)  # one-time tokens
    return path + "?" + ",".join(sorted({k for k, _ in parse_qsl(parts.query)}))


def _axe_every_state(pages: list[Any], visited: list[tuple[Any, str]]) -> list[str]:
    """axe on each page as the test left it, then on each kind of page it loaded."""
    if not AXE.exists():
        return []
    problems = []
    for page in pages:
        if page.url.startswith("http"):
            problems += _axe_every_way(page, f"{page.url} (as left)")
    for page, url in visited:
        shape = _shape(url)
        if shape in _AXE_SEEN or page.is_closed():
            continue
        _AXE_SEEN.add(shape)
        response = page.goto(url)
        if response is None or "text/html" not in response.headers.get("content-type", ""):
            continue
        problems += _axe_every_way(page, url)
    return problems


def _axe_every_way(page: Any, label: str) -> list[str]:
    """axe at 1280×800 and 390×844, in the light and the dark theme."""
    problems = []
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            problems += [f"{label} {width}px {scheme}: {v}" for v in axe_violations(page)]
    page.emulate_media(color_scheme="light")
    return problems


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Return a factory of pages, each in its own context (its own cookies).

    After a passing test, axe-core checks each page as the test left it and every kind
    of page it loaded, at 1280×800 and 390×844, light and dark: a violation of any impact
    fails the test's teardown, naming the rule, the place and the way it was seen.
    """
    contexts: list[Any] = []
    pages: list[Any] = []
    visited: list[tuple[Any, str]] = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("load", lambda loaded: visited.append((loaded, loaded.url)))
        pages.append(page)
        return page

    yield make
    failed = request.node.stash.get(FAILED, False)
    if failed:
        folder = RESULTS / re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        folder.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(pages):
            page.screenshot(path=str(folder / f"page{i}.png"), full_page=True)
    try:
        problems = [] if failed else _axe_every_state(pages, visited)
    finally:
        for context in contexts:
            context.close()
    assert problems == [], "axe-core:\n" + "\n".join(problems)


@pytest.fixture
def login(live_server: Any) -> Any:
    def login_as(page: Any, role: str = "agent") -> Any:
        page.goto(live_server.url + "/login")
        page.fill("#email", live_server.users[role])
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/tickets/$"))
        return page

    return login_as


def wait_saved(page: Any) -> None:
    """Wait until the ticket page's side panel says it saved (it saves as it changes)."""
    from playwright.sync_api import expect  # no eval: these pages keep their CSP

    status = page.locator("#quick-status")
    expect(status).to_have_text(re.compile(r"^Saved"))
    expect(status).not_to_have_class(re.compile(r"\berror\b"))
