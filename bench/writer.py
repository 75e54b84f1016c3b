"""The publishing writer alone: prepared batches written with ``write_orders``, CPU per order.

The worker step runs first (``OrderPreparer``, in this process), each batch kept pickled; then
each batch is unpickled and written, in its own transaction, as ``import_orders`` does after
the workers. Prints the writer's CPU per order (its thread's CPU time), the WAL
checkpointer thread's, and with ``--parts`` each step of ``write_orders`` (CPU around its
calls).

    PYTHONPATH=. python bench/writer.py --input orders.jsonl --db /tmp/w.sqlite3 \\
        [--batch 500] [--bulk] [--parts]

(``PYTHONPATH`` names the checkout measured: this script measures another checkout's writer too.)

For instruction counts, save the batches once, then compare a run that writes them with one
that only unpickles them, under valgrind (the checkpointer off, so that counts repeat):

    python bench/writer.py --input orders.jsonl --save batches.pkl
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        python bench/writer.py --load batches.pkl --db /tmp/w.sqlite3 --no-checkpointer [--no-write]

(instructions an order: the difference of the two totals over the number of orders).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import os
import pickle
import time
from pathlib import Path

from portal.db import CHECKPOINTER, drop_deferrable_indexes, make_engine, upgrade
from portal.publishing import orders as publishing
from portal.publishing.rejects import Summary
from portal.search.database import full_text_deferred

PARTS = (
    "lookup_pairs",
    "existing_releases",
    "ocids_with_releases",
    "log_evidence",
    "insert_releases",
    "_insert_rows",
    "store_order_pdfs",
    "recompile",
    "store_records",
    "index_records",
)


def prepare(path: Path, batch: int, base_url: str | None) -> list[bytes]:
    lines = [(n, raw) for n, raw in enumerate(path.open("rb"), start=1) if raw.strip()]
    preparer = publishing.OrderPreparer("ocds-bench1", base_url, dialect="sqlite+pysqlite")
    return [
        pickle.dumps(preparer.prepare(lines[i : i + batch]).orders, protocol=5)
        for i in range(0, len(lines), batch)
    ]


def timed_parts() -> collections.Counter:
    spent: collections.Counter = collections.Counter()
    for name in PARTS:
        function = getattr(publishing, name)

        def timed(*args, _f=function, _name=name, **kwargs):
            started = time.thread_time()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_name] += time.thread_time() - started

        setattr(publishing, name, timed)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", type=Path, help="source orders (JSON Lines)")
    parser.add_argument(
        "--batch", type=int, default=500, help="orders a batch (import_orders: 500, bulk 2,000)"
    )
    parser.add_argument("--base-url", help="BASE_URL: order PDFs")
    parser.add_argument("--save", type=Path, help="only prepare the batches and save them here")
    parser.add_argument("--load", type=Path, help="batches saved with --save")
    parser.add_argument("--db", type=Path, help="SQLite file (made again)")
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="lookup indexes dropped and the full-text index deferred, as a bulk load (its "
        "catch-up at the end counted in the writer's CPU)",
    )
    parser.add_argument("--no-write", action="store_true", help="only unpickle (the baseline of a count)")
    parser.add_argument("--no-checkpointer", action="store_true", help="SQLite's own autocheckpoint only")
    parser.add_argument("--parts", action="store_true", help="CPU of each step of write_orders")
    args = parser.parse_args()
    gc.set_threshold(publishing.YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    if args.load:
        batches = pickle.loads(args.load.read_bytes())
    else:
        if args.input is None:
            parser.error("--input or --load")
        batches = prepare(args.input, args.batch, args.base_url)
    if args.save:
        args.save.write_bytes(pickle.dumps(batches, protocol=5))
        return
    if args.db is None:
        parser.error("--db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    if args.no_checkpointer:
        CHECKPOINTER.watch = lambda path: None  # type: ignore[method-assign]
        CHECKPOINTER.unwatch = lambda path: None  # type: ignore[method-assign]
    url = f"sqlite:///{args.db}"
    upgrade(url)
    engine = make_engine(url)
    if args.bulk:
        drop_deferrable_indexes(engine)
    spent = timed_parts() if args.parts else collections.Counter()
    summary, orders, total = Summary(), 0, 0.0
    with full_text_deferred(engine) if args.bulk else contextlib.nullcontext():
        for blob in batches:
            batch = pickle.loads(blob)
            orders += len(batch)
            if not args.no_write:
                started = time.thread_time()
                publishing.write_orders(engine, batch, "bench", summary)
                total += time.thread_time() - started
            del batch
        started = time.thread_time()
    if args.bulk and not args.no_write:
        spent["full-text catch-up"] += time.thread_time() - started
        total += time.thread_time() - started
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    if args.no_write:
        return
    load = os.getloadavg()[0]
    print(
        f"{orders} orders: writer {total / orders * 1e3:.4f} ms CPU an order, WAL checkpointer "
        f"{CHECKPOINTER.cpu_seconds() / orders * 1e3:.4f} ms (load average {load:.1f})"
    )
    for name, seconds in spent.most_common():
        print(f"  {name:22s} {seconds / orders * 1e3:.4f} ms {seconds / total * 100:5.1f}%")
    if spent:
        rest = total - sum(spent.values())
        print(f"  {'the rest, commit too':22s} {rest / orders * 1e3:.4f} ms {rest / total * 100:5.1f}%")


if __name__ == "__main__":
    main()
