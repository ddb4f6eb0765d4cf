"""`make bench`: every benchmark in bench/, one after the other, each printing its figures.

Run through scripts/with-services (PostgreSQL + Redis). Each benchmark is its own process
so one's memory or connections never colour the next one's figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BENCHMARKS = [
    "ingest.py",
    "trail.py",
    "slack_clicks.py",
    "revert_latency.py",
    "api.py",
    "web.py",
]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n===== bench/{name} =====", flush=True)
        if subprocess.run([sys.executable, str(BENCH / name)], cwd=BENCH.parent).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
