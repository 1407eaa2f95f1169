"""A load test of the web interface: chiefs browse, upload evidence and submit; inspectors review.

Each simulated user is a thread with its own `requests` session (its own sign-in and cookies).
Users of one unit share that unit's demo chief account but work disjoint items, and inspectors
take disjoint items of the review queue, so no request fails for a reason a real bureau would not
meet. Every request is timed; any unexpected status is an error. The counts of what succeeded
(files uploaded, items submitted, reviews recorded) are returned so the caller can compare them
with the database afterwards.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ITEM_LINK = re.compile(r'href="/items/(\d+)"')
PASSWORD = "demo-tracker-2026"  # noqa: S105 (the documented demo password)
DOMAIN = "demo.example.org"


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    kind_latencies: dict[str, list[float]] = field(default_factory=dict)
    by_kind: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    done: Counter = field(default_factory=Counter)  # uploads (files), submits, reviews

    def record(self, kind: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.kind_latencies.setdefault(kind, []).append(seconds)
            self.by_kind[kind] += 1
            if error:
                self.errors.append(error)

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.done[what] += n

    def percentile(self, p: float, kind: str | None = None) -> float:
        ordered = sorted(self.latencies if kind is None else self.kind_latencies.get(kind, []))
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class User:
    """One simulated person with a browser session."""

    def __init__(self, base: str, email: str, stats: Stats, deadline: float) -> None:
        self.base = base.rstrip("/")
        self.email = email
        self.stats = stats
        self.deadline = deadline
        self.http = requests.Session()
        self.csrf = ""
        self.rng = random.Random(f"{email}:{id(self)}")  # noqa: S311 (think times, not secrets)

    def request(self, kind: str, method: str, path: str, expect: tuple[int, ...], **kwargs):
        started = time.perf_counter()
        error = None
        response = None
        try:
            response = self.http.request(
                method, self.base + path, allow_redirects=False, timeout=60, **kwargs
            )
            if response.status_code not in expect:
                error = f"{self.email} {method} {path}: {response.status_code}"
        except requests.RequestException as exc:
            error = f"{self.email} {method} {path}: {type(exc).__name__}: {exc}"
        self.stats.record(kind, time.perf_counter() - started, error)
        return response if error is None else None

    def think(self) -> None:
        time.sleep(self.rng.uniform(0.2, 1.0))

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def sign_in(self) -> bool:
        page = self.request("login page", "GET", "/login", (200,))
        token = CSRF.search(page.text) if page is not None else None
        if token is None:
            self.stats.record("login", 0, f"{self.email}: no CSRF token on /login")
            return False
        answer = self.request(
            "login",
            "POST",
            "/login",
            (302, 303),
            data={"email": self.email, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        if answer is None:
            return False
        # The session is renewed at sign-in: read the token of the signed-in session.
        home = self.request("checklist", "GET", "/items/", (200,))
        token = CSRF.search(home.text) if home is not None else None
        if token is None:
            self.stats.record("login", 0, f"{self.email}: no CSRF token after sign-in")
            return False
        self.csrf = token.group(1)
        return True


class Chief(User):
    """Browses the checklist, opens an item, uploads a file and submits it; then the next."""

    def __init__(self, *args, items: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.items = list(items)

    def run(self) -> None:
        if not self.sign_in():
            return
        while self.running():
            page = self.rng.choice(["/items/", "/items/?status=open", "/items/?page=2", "/"])
            self.request("checklist", "GET", page, (200, 302) if page == "/" else (200,))
            self.think()
            if not self.items or not self.running():
                continue
            item = self.items.pop(0)
            self.request("item page", "GET", f"/items/{item}", (200,))
            self.think()
            body = f"load test evidence {item} {secrets.token_hex(8)}\n".encode() * 40
            uploaded = self.request(
                "upload",
                "POST",
                f"/items/{item}/evidence",
                (302, 303),
                data={"csrf_token": self.csrf, "note": "load test"},
                files={"files": (f"记录-{item}.txt", body, "text/plain")},
            )
            if uploaded is None:
                continue
            self.stats.count("files")
            self.think()
            submitted = self.request(
                "submit",
                "POST",
                f"/items/{item}/submit",
                (302, 303),
                data={"csrf_token": self.csrf, "note": ""},
            )
            if submitted is not None:
                self.stats.count("submits")
            self.think()


class Inspector(User):
    """Reads the review queue and decides on its share of the submitted items."""

    def __init__(self, *args, share: tuple[int, int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.index, self.of = share
        self.decided: set[int] = set()

    def run(self) -> None:
        if not self.sign_in():
            return
        while self.running():
            queue = self.request("review queue", "GET", "/review/", (200,))
            self.think()
            if queue is None:
                continue
            mine = [
                int(n)
                for n in dict.fromkeys(ITEM_LINK.findall(queue.text))
                if int(n) % self.of == self.index and int(n) not in self.decided
            ]
            if not mine or not self.running():
                continue
            item = mine[0]
            self.request("item page", "GET", f"/items/{item}", (200,))
            self.think()
            approve = self.rng.random() < 0.75
            decided = self.request(
                "review",
                "POST",
                f"/items/{item}/review",
                (302, 303),
                data={
                    "csrf_token": self.csrf,
                    "decision": "approve" if approve else "return",
                    "comment": "" if approve else "请补充盖章页（负载测试）",
                },
            )
            self.decided.add(item)
            if decided is not None:
                self.stats.count("reviews")
                self.stats.count("approvals" if approve else "returns")


def run_load(
    base: str,
    *,
    users: int,
    duration: float,
    items_by_unit: dict[str, list[int]],
    inspectors: int | None = None,
) -> tuple[Stats, float]:
    """Run `users` simulated people for `duration` seconds; the stats and the elapsed time."""
    stats = Stats()
    inspectors = inspectors if inspectors is not None else max(1, users // 5)
    chiefs = users - inspectors
    units = sorted(u for u, items in items_by_unit.items() if items)
    deadline = time.monotonic() + duration
    people: list[User] = []
    # The unit of each chief thread, round robin; a unit's items are dealt out among its threads.
    assigned = [units[n % len(units)] for n in range(chiefs)]
    for n, unit in enumerate(assigned):
        sharing = [i for i, u in enumerate(assigned) if u == unit]
        position = sharing.index(n)
        items = items_by_unit[unit][position :: len(sharing)]
        email = f"chief.{unit.lower()}@{DOMAIN}"
        people.append(Chief(base, email, stats, deadline, items=items))
    for n in range(inspectors):
        email = f"inspector{1 + n % 2}@{DOMAIN}"
        people.append(Inspector(base, email, stats, deadline, share=(n, inspectors)))
    threads = [threading.Thread(target=p.run, name=p.email, daemon=True) for p in people]
    started = time.monotonic()
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # people arrive over a few seconds, not in one instant
    for thread in threads:
        thread.join(timeout=duration + 120)
    return stats, time.monotonic() - started
