"""Builders for the API's tests: a published dataset and a harvester that follows ``links.next``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from builders import write_jsonl

from ocds.catalogue.generate import generate_orders
from portal.db import app_engine
from portal.publishing import import_orders

PREFIX = "ocds-vrz0pe"


def generated(n: int, seed: int, series: str = "OC") -> list[dict]:
    """``n`` synthetic catalogue orders (several buyers, suppliers, regions, versions); another
    ``series`` gives order numbers of its own (the generator numbers every run from 1)."""
    orders = list(generate_orders(n, seed))
    for order in orders:
        order["orderNumber"] = series + order["orderNumber"][2:]
    return orders


def publish(app, tmp_path: Path, orders: list[dict], name: str = "g") -> None:
    path = write_jsonl(tmp_path / f"{name}.jsonl", orders)
    summary = import_orders(app_engine(app), path, ocid_prefix=PREFIX, workers=1)
    assert summary.rejects == []


def publish_generated(app, tmp_path: Path, n: int, seed: int, series: str = "OC") -> None:
    publish(app, tmp_path, generated(n, seed, series), name=f"{series}-{seed}")


def local(url: str) -> str:
    """The path and query of a public URL, for the test client."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def harvest(
    client, url: str, key: str = "releases", max_pages: int = 10_000
) -> tuple[list[dict], list[dict]]:
    """Every item of a list, following ``links.next``; and every package read."""
    items: list[dict] = []
    packages: list[dict] = []
    while url and len(packages) < max_pages:
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        package = response.get_json()
        packages.append(package)
        items += package.get(key, [])
        nxt = package.get("links", {}).get("next")
        url = local(nxt) if nxt else ""
    return items, packages
