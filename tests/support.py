"""What every test module may import: where shared data is, and skip-or-fail for missing tools.

(Import from here, not from ``conftest``: several folders have a conftest.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VERAZ_SHARED", ROOT.parent / "shared"))
IN_CI = bool(os.environ.get("CI"))


def need(condition: bool, reason: str) -> None:
    """Skip when a resource is missing locally; fail under CI, where everything must run."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required under CI: {reason}")
        pytest.skip(reason)


def make_app(database_url: str, tmp_path: Path, **overrides):
    """The portal on a given database, with its instance folder under ``tmp_path``."""
    from portal.app import create_app

    config = {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "IMPORT_WORKERS": 1,
        "BASE_URL": "http://localhost",
        # Tests drive routes hundreds of times from one client; the rate limit's own tests set it.
        "API_RATE_LIMIT": "",
    }
    config.update(overrides)
    return create_app(config)


def fresh_postgres_db(server_url: str, template: str | None = None) -> str:
    """Create a database on the server and return its URL: empty, or a copy of the database
    named ``template`` (which nothing may be connected to)."""
    import uuid

    from sqlalchemy import create_engine, text

    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    base, _, query = server_url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def replace_at_paths(draw, node, values, min_changes: int = 0, max_changes: int = 6, paths=None):
    """Mutate the JSON value ``node`` in place: up to ``max_changes`` values at paths drawn from
    ``paths`` (default: :func:`json_paths` of ``node`` before any change) replaced by values
    drawn from ``values``. ``draw`` is hypothesis's (``data.draw`` or a composite's). A path an
    earlier replacement removed or changed the shape of is skipped. Returns ``node``."""
    paths = list(json_paths(node)) if paths is None else paths
    for _ in range(draw(st.integers(min_value=min_changes, max_value=max_changes))):
        target, path = node, draw(st.sampled_from(paths))
        try:
            for step in path[:-1]:
                target = target[step]
            # An earlier replacement may have turned a list on the path into an object: a list
            # index is then no member name (an int key is not JSON), and the path is skipped.
            if isinstance(target, dict) and not isinstance(path[-1], str):
                continue
            target[path[-1]] = draw(values)
        except (KeyError, IndexError, TypeError):
            continue
    return node


def json_paths(node, prefix=()):
    """Every path to a value inside the JSON value ``node`` (keys and list indexes), parents
    before their children: where mutation tests put odd values."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from json_paths(value, (*prefix, key))
