"""Benchmark: the order PDF's CPU, alone and in the worker step, against another checkout's.

    python bench/order_pdf.py --against /path/to/other/checkout
    python bench/order_pdf.py --against ../main --orders 2000 --rounds 10

On a machine shared with other work, process CPU per order drifts by a quarter from one run to
the next, more than most changes to the renderer: two versions timed one after the other cannot
be told apart. This loads the other checkout's renderer (``portal/documents/order_pdf.py``,
``pdf_writer.py``, ``qr.py``, copied into a temporary package) beside this one's, checks that
both give the same bytes for the first orders (or says they differ), and times both in one
process on the same generated orders, rounds interleaved: ``render_order_pdf`` alone, then the
worker step (``OrderPreparer.prepare``, at the import's GC threshold) without PDFs, with the
other renderer, and with this one. Prints medians, bests and the median ratio round by round,
with the load average.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys
import tempfile
import time
from importlib import import_module
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

import portal.documents.publish as publish  # noqa: E402
from ocds.catalogue.generate import generate_orders  # noqa: E402
from ocds.catalogue.mapping import map_order  # noqa: E402
from ocds.summary import process_facts  # noqa: E402
from portal.documents.order_pdf import render_order_pdf  # noqa: E402
from portal.links import verification_url  # noqa: E402
from portal.publishing.orders import YOUNG_COLLECTION_THRESHOLD, OrderPreparer  # noqa: E402

BASE_URL = "http://127.0.0.1:8000"
LINK = "5f" * 32
RENDERER_FILES = ("order_pdf.py", "pdf_writer.py", "qr.py")


def other_renderer(checkout: Path, folder: Path):
    """``render_order_pdf`` of ``checkout``, its renderer's modules imported as ``other_pdf``."""
    package = folder / "other_pdf"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in RENDERER_FILES:
        source = (checkout / "portal" / "documents" / name).read_text()
        source = re.sub(r"\bportal\.documents\.(order_pdf|pdf_writer|qr)\b", r"other_pdf.\1", source)
        (package / name).write_text(source)
    sys.path.insert(0, str(folder))
    return import_module("other_pdf.order_pdf").render_order_pdf


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def interleaved(variants: dict, rounds: int, per_round) -> dict[str, list[float]]:
    """CPU ms per order of each variant, each round in the opposite order of the last."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            times[name].append(per_round(name, variants[name]))
    return times


def report(label: str, times: dict[str, list[float]], old: str, new: str) -> None:
    figures = ", ".join(f"{k} median {median(v):.3f} best {min(v):.3f}" for k, v in times.items())
    ratio = median([b / a for a, b in zip(times[old], times[new], strict=True)])
    load = os.getloadavg()[0]
    print(f"{label} (load average {load:.1f}): {figures} ms CPU per order; {new} / {old} {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", type=Path, required=True, help="the other checkout's root")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        other = other_renderer(args.against.resolve(), Path(folder))
        orders = list(generate_orders(args.orders, args.seed))
        inputs: list[tuple[dict, dict[str, Any]]] = []
        for order in orders:
            mapped = map_order(order, ocid_prefix="ocds-bench1")
            release = mapped.order_release
            inputs.append(
                (
                    release,
                    {
                        "verify_url": verification_url(BASE_URL, release["ocid"]),
                        "proformas_hash_link": LINK,
                        "catalogue": publish.catalogue_name(mapped.agreement_release),
                        "facts": process_facts(release),
                    },
                )
            )
        same = all(render_order_pdf(r, **a) == other(r, **a) for r, a in inputs[:50])
        print(f"same bytes for the first 50 orders: {'yes' if same else 'NO'}")

        def render_round(name: str, render) -> float:
            started = time.process_time()
            for release, arguments in inputs:
                render(release, **arguments)
            return (time.process_time() - started) / len(inputs) * 1e3

        renderers = {"other": other, "this": render_order_pdf}
        report("render_order_pdf", interleaved(renderers, args.rounds, render_round), "other", "this")

        lines = [(n, orjson.dumps(o)) for n, o in enumerate(orders, start=1)]
        gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])  # as in the workers
        steps = {
            "no PDF": (OrderPreparer("ocds-bench1", None, dialect="sqlite"), render_order_pdf),
            "other": (OrderPreparer("ocds-bench1", BASE_URL, dialect="sqlite"), other),
            "this": (OrderPreparer("ocds-bench1", BASE_URL, dialect="sqlite"), render_order_pdf),
        }
        for preparer, render in steps.values():  # agreement states, QR tables, memos
            publish.render_order_pdf = render
            preparer.prepare(lines[:200])

        def step_round(name: str, variant) -> float:
            preparer, render = variant
            publish.render_order_pdf = render
            started = time.process_time()
            for i in range(0, len(lines), 500):
                preparer.prepare(lines[i : i + 500])
            return (time.process_time() - started) / len(lines) * 1e3

        try:
            report("worker step", interleaved(steps, args.rounds, step_round), "other", "this")
        finally:
            publish.render_order_pdf = render_order_pdf


if __name__ == "__main__":
    main()
