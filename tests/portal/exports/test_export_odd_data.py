"""Imported OCDS may hold anything: releases without a date, with a date that is not one, odd
ids, huge numbers. The export keeps every release, files the undated ones as ``undated``, and
never fails on them (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from exports_support import folder_of, jsonl, manifest, package, run_export

from ocds.validate import package_problems
from portal.db import app_engine
from portal.publishing import import_ocds

ODD = [
    {"ocid": "ocds-odd-1", "id": "a", "tag": ["planning"]},  # no date
    {"ocid": "ocds-odd-2", "id": 7, "date": "garbage", "tag": ["tender"]},
    {
        "ocid": "ocds-odd-3",
        "id": "b",
        "date": "0999-01-01T00:00:00Z",
        "tender": {"value": {"amount": 10**30}},
    },
    {"ocid": "ocds odd/4 ñ😀", "id": "c/d?e", "date": "2021-02-03T00:00:00Z", "tender": {"title": None}},
    {"ocid": "ocds-odd-5", "id": "x", "date": "2021-05-01T00:00:00Z", "awards": [{"id": 1}, {"id": 1}]},
    {"ocid": "ocds-odd-5", "id": "y", "date": 2021, "tag": "award"},
]


def test_odd_releases_are_all_exported(app, tmp_path):
    path = tmp_path / "odd.json"
    # The standard library writes integers of any size (orjson stops at 64 bits).
    path.write_text(
        json.dumps(
            {
                "uri": "https://example.org/odd.json",
                "version": "1.1",
                "publishedDate": "2021-01-01T00:00:00Z",
                "publisher": {"name": "Odd publisher"},
                "releases": ODD,
            }
        ),
        encoding="utf-8",
    )
    summary = import_ocds(app_engine(app), [path])
    with app_engine(app).connect() as conn:
        stored = sorted(tuple(r) for r in conn.exec_driver_sql("SELECT ocid, release_id FROM releases"))
    assert stored, summary.rejects
    run_export(app)
    m = manifest(app)
    exported = []
    for f in m["files"]:
        if f["kind"] == "release-package":
            pkg = package(folder_of(app) / f["name"])
            # Releases kept although invalid are named in invalidReleases; the package is
            # otherwise valid, and no problem is outside a release so named.
            invalid = {(r["ocid"], str(r["id"])) for r in pkg.get("invalidReleases", [])}
            for problem in package_problems(pkg, "release"):
                assert problem.field.startswith("releases/"), problem
                release = pkg["releases"][int(problem.field.split("/")[1])]
                assert (release["ocid"], str(release["id"])) in invalid, problem
            assert pkg["publisher"] == {"name": "Odd publisher"}
            exported += [(r["ocid"], str(r["id"])) for r in pkg["releases"]]
            assert (
                all(str(r.get("date", "")).startswith(f["year"]) for r in pkg["releases"])
                or f["year"] == "undated"
            )
    assert sorted(exported) == stored
    compiled = {r["ocid"] for y in m["years"] for r in jsonl(folder_of(app) / f"{y}.jsonl.gz")}
    assert "ocds odd/4 ñ😀" in compiled
    assert all(y == "undated" or (len(y) == 4 and y.isdigit()) for y in m["years"])
    assert (folder_of(app) / "full.jsonl.gz").is_file()
