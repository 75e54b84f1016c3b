"""Instructions per order of the publishing worker step and writer, under cachegrind (load-proof).

CPU seconds drift on a busy machine; instruction counts do not. Each phase runs in its own
process under ``valgrind --tool=cachegrind --cache-sim=no``, once with the phase (``worker``,
``writer``) and once with only its setup (``worker0``, ``writer0``); the difference divided by
N is the phase's instructions per order. ``dump`` first writes the worker's pickled batches
(what the writer receives), so the writer is measured on exactly what the workers send::

    export PYTHONPATH=$PWD
    python bench/ingest_instructions.py dump 500 - /tmp/batches.pkl       # "-": no order PDFs
    for mode in worker0 worker writer0 writer; do
      valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        python bench/ingest_instructions.py $mode 500 - /tmp/batches.pkl 2>&1 | grep "I *refs"
    done

With order PDFs, give the BASE_URL instead of ``-`` (e.g. ``http://127.0.0.1:8000``). The
worker phase includes pickling its results and the writer phase unpickling them, as between
processes in ``veraz import-orders``. The writer runs on a fresh SQLite file with the lookup
indexes down (bulk mode).
"""

from __future__ import annotations

import inspect
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from ocds.catalogue.generate import generate_orders  # noqa: E402
from portal.db import drop_deferrable_indexes, make_engine, upgrade  # noqa: E402
from portal.publishing.orders import OrderPreparer, write_orders  # noqa: E402
from portal.publishing.rejects import Summary  # noqa: E402

WARM = 200  # orders prepared before the measured ones (agreement states, caches)
BATCH = 500


def main() -> None:
    mode, n, base, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    base_url = None if base == "-" else base
    if mode in ("dump", "worker0", "worker"):
        lines = [(i, orjson.dumps(o)) for i, o in enumerate(generate_orders(n + WARM, 1), start=1)]
        # Code from before the worker knew the writer's dialect takes no ``dialect``.
        takes_dialect = "dialect" in inspect.signature(OrderPreparer).parameters
        kw = {"dialect": "sqlite+pysqlite"} if takes_dialect else {}
        preparer = OrderPreparer("ocds-bench1", base_url, **kw)
        preparer.prepare(lines[:WARM])
        if mode != "worker0":
            blobs = [
                pickle.dumps(preparer.prepare(lines[i : i + BATCH]), protocol=pickle.HIGHEST_PROTOCOL)
                for i in range(WARM, n + WARM, BATCH)
            ]
            if mode == "dump":
                path.write_bytes(pickle.dumps(blobs))
        return
    blobs = pickle.loads(path.read_bytes())
    folder = tempfile.mkdtemp()
    try:
        url = f"sqlite:///{folder}/writer.sqlite3"
        upgrade(url)
        engine = make_engine(url)
        drop_deferrable_indexes(engine)
        if mode == "writer":
            summary = Summary()
            for blob in blobs:
                write_orders(engine, pickle.loads(blob).orders, "bench", summary)
        engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # the same exit for every mode: no interpreter teardown counted unevenly
