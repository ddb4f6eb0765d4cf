"""A scratch PostgreSQL database beside DATABASE_URL, for the benchmarks that fill one.

with scratch_database("bench/api.py") as url:   # created and migrated; dropped after
    subprocess.run([...], env={**os.environ, "DATABASE_URL": url})
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def scratch_database(script: str, *, env: dict | None = None) -> Iterator[str]:
    """Create an empty database on DATABASE_URL's server, migrate it (with ``env`` on top of
    the environment), yield its URL, and drop it whatever happens. Exits with status 2 and
    a hint when DATABASE_URL is not PostgreSQL."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print(f"{script} needs DATABASE_URL=postgres://... (use scripts/with-services)")
        raise SystemExit(2)
    name = f"sgportal_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    scratch_url = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"],
            env={**os.environ, **(env or {}), "DATABASE_URL": scratch_url},
            check=True,
            cwd=ROOT,
        )
        yield scratch_url
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
