"""A small HTTP client for the measurements: one fresh connection per request, as browsers
behind gunicorn's sync workers get (they close the connection after each response)."""

from __future__ import annotations

import http.client
import random
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, bytes, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


class Browser:
    """Keeps the session cookie of one signed-in person."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def headers(self) -> dict[str, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {"Cookie": cookie} if cookie else {}

    def _keep(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value

    def get(self, path: str) -> tuple[int, bytes]:
        status, body, response = request(self.port, "GET", path, self.headers())
        self._keep(response)
        return status, body

    def sign_in(self, email: str, password: str) -> None:
        status, body = self.get("/login")
        match = CSRF.search(body.decode())
        if status != 200 or match is None:
            raise RuntimeError(f"no sign-in form ({status})")
        form = urlencode({"email": email, "password": password, "csrf_token": match[1]})
        status, _body, response = request(
            self.port,
            "POST",
            "/login",
            {**self.headers(), "Content-Type": "application/x-www-form-urlencoded"},
            form.encode(),
        )
        self._keep(response)
        if status != 302:
            raise RuntimeError(f"sign-in of {email} failed ({status})")


@dataclass
class Timing:
    """Repeated requests of one page: every status and every duration in seconds."""

    path: str
    statuses: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    bytes: int = 0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.seconds, 95) * 1000

    def summary(self) -> dict:
        return {
            "path": self.path,
            "repetitions": len(self.seconds),
            "median_ms": round(self.median_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "statuses": sorted(set(self.statuses)),
            "all_ok": all(s == 200 for s in self.statuses),
            "bytes": self.bytes,
        }


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 20 samples is the 19th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class Page:
    """One page to time: where it is served, its address and the headers of its person."""

    port: int
    path: str
    headers: dict[str, str]


def time_pages(
    pages: Sequence[Page], *, repetitions: int, warmup: int = 10, seed: int = 2026
) -> list[Timing]:
    """Time every page `repetitions` times, one request of each per round in a shuffled order.

    The rounds interleave the pages (and the scales' servers): this shared host's speed drifts
    by tens of percent within minutes, and a page timed minutes after its counterpart at
    another scale carried that drift into their ratio. Shuffled, no page always follows the
    same one.

    The first `warmup` rounds are not measured: each of a server's workers must have served a
    page once (its templates compiled, its SQL cached) or its first request is measured; which
    worker takes a connection is the kernel's choice.
    """
    timings = [Timing(page.path) for page in pages]
    order = list(range(len(pages)))
    shuffle = random.Random(seed).shuffle
    for n in range(warmup + repetitions):
        shuffle(order)
        for index in order:
            page = pages[index]
            started = time.perf_counter()
            status, body, _response = request(page.port, "GET", page.path, page.headers)
            elapsed = time.perf_counter() - started
            if n >= warmup:
                timing = timings[index]
                timing.statuses.append(status)
                timing.seconds.append(elapsed)
                timing.bytes = len(body)
    return timings
