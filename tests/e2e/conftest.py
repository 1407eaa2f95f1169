"""Browser tests: the real app in its own server process, driven by Debian's headless Chromium.

The server runs `tracker serve` on a free loopback port with a fresh SQLite database and the demo
bureau (`tracker bootstrap --demo`). Every test gets its own browser context (zh-CN) that records
requests to any other origin, console errors and page errors; the test fails on any of them.
Screenshots go to test-screenshots/ (not committed), desktop 1366×768 and phone 390×844.

Without /usr/bin/chromium or the playwright package the tests are skipped, except under CI
(env CI set), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / "test-screenshots"
PASSWORD = "demo-tracker-2026"
# No background traffic: this machine's network is closed, and a test watches every request.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--lang=zh-CN",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# `make screenshots` sets this to docs/screenshots: the README's pictures of these pages are then
# rewritten from the journeys (the top of the page as a desktop browser shows it).
DOCS_SCREENSHOTS = os.environ.get("TRACKER_DOCS_SCREENSHOTS")
DOCS_PAGES = {"checklist", "item", "review-queue", "dashboard"}


@pytest.fixture(autouse=True)
def db_session():
    """Replaces the suite's rolled-back session: these tests talk to their own server process."""
    yield None


def _unavailable() -> str | None:
    if sync_playwright is None:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)"
    return None


@pytest.fixture(scope="session")
def playwright_browser():
    reason = _unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"Browser tests cannot run in CI: {reason}", pytrace=False)
        pytest.skip(f"browser tests skipped: {reason}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(playwright_browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served by `flask tracker serve` on its own database; yields its base URL."""
    root = tmp_path_factory.mktemp("e2e")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TRACKER_", "MAIL_")) and key not in {"DATABASE_URL", "SECRET_KEY"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{root / 'e2e.sqlite3'}",
        TRACKER_INSTANCE_PATH=str(root),
        SECRET_KEY="e2e",
        TRACKER_SCHEDULER="0",
        FLASK_DEBUG="0",
    )
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    log = root / "server.log"
    with log.open("w") as out:
        for command in (["db", "upgrade"], ["tracker", "bootstrap", "--demo"]):
            done = subprocess.run(
                [*flask, *command], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
            if done.returncode:
                pytest.fail(f"{' '.join(command)} failed:\n{log.read_text()}", pytrace=False)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    out = log.open("a")
    server = subprocess.Popen(
        [*flask, "tracker", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the e2e server did not start:\n{log.read_text()}", pytrace=False)
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        out.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir()
    return SCREENSHOTS


@dataclass
class Browser:
    """One test's browser context and page, with what it saw."""

    base: str
    context: object
    page: object
    shots: Path
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)  # confirmation questions, all accepted

    def url(self, path: str) -> str:
        return self.base + path

    def goto(self, path: str):
        response = self.page.goto(self.url(path))
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        return response

    def sign_in(self, email: str) -> None:
        self.goto("/login")
        self.page.fill("#email", email)
        self.page.fill("#password", PASSWORD)
        with self.page.expect_navigation():
            self.page.locator("form [type=submit]").click()
        assert "/login" not in self.page.url, f"sign-in failed for {email}"

    def shoot(self, name: str) -> None:
        """Screenshots of the current page, desktop then phone; the viewport is restored.

        At phone width the page must fit: nothing may make it scroll sideways.
        """
        page = self.page
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=str(self.shots / f"{name}-{label}.png"), full_page=True)
            if size is PHONE:
                assert_fits(page, name)
        page.set_viewport_size(DESKTOP)
        if DOCS_SCREENSHOTS and name in DOCS_PAGES:
            folder = PROJECT_ROOT / DOCS_SCREENSHOTS
            folder.mkdir(parents=True, exist_ok=True)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(folder / f"{name}.png"))


def assert_fits(page, name: str) -> None:
    """The page is no wider than the viewport (tables scroll inside their own box)."""
    width = page.viewport_size["width"]
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"{name}: {overflow}px wide at a {width}px viewport"


@pytest.fixture
def browser(playwright_browser, live_server: str, screenshot_dir: Path) -> Iterator[Browser]:
    context = playwright_browser.new_context(
        locale="zh-CN", viewport=DESKTOP, accept_downloads=True, timezone_id="Asia/Shanghai"
    )
    context.set_default_timeout(15_000)
    origin = urlsplit(live_server)
    session = Browser(live_server, context, None, screenshot_dir)

    def on_request(request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"data", "blob", "about"}:
            return
        if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
            session.foreign.append(request.url)

    def on_console(message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        session.errors.append(
            f"console error on {message.page and message.page.url}: {message.text} ({where})"
        )

    def on_page(page) -> None:
        page.on("pageerror", lambda error: session.errors.append(f"page error: {error}"))
        page.on("dialog", lambda dialog: (session.dialogs.append(dialog.message), dialog.accept()))

    context.on("request", on_request)
    context.on("console", on_console)
    context.on("page", on_page)
    session.page = context.new_page()
    try:
        yield session
    finally:
        context.close()
    assert not session.foreign, f"requests to other origins: {session.foreign}"
    assert not session.errors, "browser errors:\n" + "\n".join(session.errors)
