"""The bench times the pages of every scale side by side: each round asks for every page once,
in an order that changes from round to round, and the warm-up rounds are not kept."""

from __future__ import annotations

from bench import client
from bench.client import Page, time_pages


def test_each_round_asks_for_every_page_once_in_a_shuffled_order(monkeypatch) -> None:
    asked: list[tuple[int, str]] = []

    def fake_request(port, method, path, headers=None, body=None):
        asked.append((port, path))
        return (200 if port == 1 else 500), b"x" * port, None

    monkeypatch.setattr(client, "request", fake_request)
    pages = [Page(1, "/small", {}), Page(2, "/city", {}), Page(3, "/hello", {})]
    timings = time_pages(pages, repetitions=30, warmup=2)

    rounds = [asked[n : n + 3] for n in range(0, len(asked), 3)]
    assert len(rounds) == 32
    assert all(sorted(r) == [(1, "/small"), (2, "/city"), (3, "/hello")] for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1  # not the same order every round
    assert [t.path for t in timings] == ["/small", "/city", "/hello"]
    assert all(len(t.seconds) == 30 for t in timings)  # warm-up rounds left out
    assert timings[0].statuses == [200] * 30 and timings[1].statuses == [500] * 30
    assert [t.bytes for t in timings] == [1, 2, 3]
