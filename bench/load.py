"""Throughput: requests per second and errors for one page under N concurrent connections.

The load comes from two client processes with threads (one process would be held back by the
GIL); they share the machine's cores with the server, for the page and for its baseline alike.
"""

from __future__ import annotations

import multiprocessing
import threading
import time

from bench.client import request

PROCESSES = 2


def _worker(port: int, path: str, headers: dict, threads: int, seconds: float, out) -> None:
    ok = errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop() -> None:
        nonlocal ok, errors
        while time.monotonic() < deadline:
            try:
                status, _body, _response = request(port, "GET", path, headers)
                good = status == 200
            except OSError:
                good = False
            with lock:
                if good:
                    ok += 1
                else:
                    errors += 1

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.put((ok, errors))


def throughput(
    port: int, path: str, headers: dict[str, str], *, connections: int = 20, seconds: float = 30.0
) -> dict:
    """Hammer the page with `connections` concurrent clients for `seconds`."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    per_process = [
        connections // PROCESSES + (1 if n < connections % PROCESSES else 0)
        for n in range(PROCESSES)
    ]
    started = time.monotonic()
    workers = [
        context.Process(target=_worker, args=(port, path, headers, n, seconds, results))
        for n in per_process
        if n
    ]
    for worker in workers:
        worker.start()
    totals = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    ok = sum(t[0] for t in totals)
    errors = sum(t[1] for t in totals)
    return {
        "path": path,
        "connections": connections,
        "seconds": round(elapsed, 2),
        "requests": ok + errors,
        "errors": errors,
        "requests_per_second": round(ok / elapsed, 1),
    }
