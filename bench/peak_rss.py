"""Run a module as __main__ and report this process's own peak RSS (VmHWM) on stderr.

    python bench/peak_rss.py flask --app wsgi tracker export-ledger ...

The peak comes from /proc/self/status, which belongs to this process's memory alone: the
ru_maxrss that wait4 reports starts from the parent's peak (Linux carries it across fork and
exec), so a child of a large harness would seem as large as the harness.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

MARK = "bench-peak-rss-kib:"
ROOT = Path(__file__).resolve().parent.parent


def peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    sys.path[0] = str(ROOT)  # the project, not bench/, as `python -m` would have it
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        print(f"{MARK}{peak_kib()}", file=sys.stderr)


if __name__ == "__main__":
    main()
