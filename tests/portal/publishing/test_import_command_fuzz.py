"""``veraz import-ocds`` as a person runs it, on files broken at the byte level: the command
never ends in a traceback, its exit status is 0 exactly when nothing was rejected, and every
release line the damage left intact is published (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.cli import main
from portal.db import app_engine
from portal.models import releases


def _release(ocid: str, n: int) -> dict:
    return {
        "ocid": ocid,
        "id": f"{ocid}-r{n}",
        "date": f"2024-0{1 + n % 9}-01T00:00:00Z",
        "tag": ["tender"],
        "initiationType": "tender",
        "tender": {
            "id": f"T-{n}",
            "title": f"Compra de útiles {n}",
            "value": {"amount": 100 + n, "currency": "PEN"},
        },
    }


# Byte-level damage to one line: a flipped byte, a cut, a stray character, a huge number.
DAMAGE = st.sampled_from(["flip", "cut", "stray", "huge", "nan", "blank"])


def test_any_damaged_file_ends_with_a_truthful_status(app, runner, tmp_path):
    engine = app_engine(app)
    serial = itertools.count()

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(st.tuples(st.booleans(), DAMAGE, st.integers(0, 10_000)), min_size=1, max_size=6))
    def check(plan):
        n = next(serial)
        lines, intact = [], []
        for i, (damaged, how, where) in enumerate(plan):
            release = _release(f"ocds-fuzz01-{n}-{i}", i)
            line = orjson.dumps(release)
            if damaged:
                if how == "flip":
                    at = where % len(line)
                    line = line[:at] + bytes([line[at] ^ 0xFF]) + line[at + 1 :]
                elif how == "cut":
                    line = line[: where % len(line)]
                elif how == "stray":
                    at = where % len(line)
                    line = line[:at] + b"\x00{" + line[at:]
                elif how == "huge":
                    line = line.replace(b'"amount":' + str(100 + i).encode(), b'"amount":' + b"9" * 400)
                elif how == "nan":
                    line = line.replace(b'"amount":' + str(100 + i).encode(), b'"amount":NaN')
                else:
                    line = b""
            if not damaged:
                intact.append(release["id"])
            lines.append(line)
        path = tmp_path / f"f{n}.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        rejects = tmp_path / f"f{n}.rej.jsonl"
        result = runner.invoke(main, ["import-ocds", str(path), "--rejects", str(rejects)])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        with engine.connect() as conn:
            stored = set(
                conn.execute(
                    select(releases.c.release_id).where(releases.c.ocid.like(f"ocds-fuzz01-{n}-%"))
                ).scalars()
            )
        assert set(intact) <= stored, (plan, result.output)
        rejected = rejects.exists()
        # 0 exactly when nothing was rejected; a rejected line is reported by file and line
        assert (result.exit_code == 0) == (not rejected), (plan, result.exit_code, result.output)
        if rejected:
            assert result.exit_code == 1
            report = rejects.read_text()
            assert f"f{n}.jsonl" in report, report

    check()
