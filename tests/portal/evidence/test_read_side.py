"""The read side of the evidence log stays apart from the sealing and anchoring loop.

A web worker (the app and its views, serving the verification page, a proof bundle and the
log API) never loads the chain or PDF-signing libraries: checked in a fresh interpreter,
against a real database whose orders were sealed and anchored by ``veraz anchor``. And the
modules of ``portal.evidence`` import each other without a cycle, counting the imports made
inside functions too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from builders import all_examples
from evidence_builders import order_ocid, publish_examples

from portal import links
from portal.cli import main

ROOT = Path(__file__).resolve().parents[3]
WORKER = """
import json, sys
from portal.app import create_app
import portal.views

app = create_app({"DATABASE_URL": sys.argv[1], "INSTANCE_PATH": sys.argv[2], "TESTING": True,
                  "BASE_URL": "http://localhost"})
statuses = {}
client = app.test_client()
for path in sys.argv[3:]:
    statuses[path] = client.get(path).status_code
chain = ("web3", "eth_tester", "evm")  # web3, eth-tester and py-evm: anchoring on a chain
print(json.dumps({"statuses": statuses, "loaded": [m for m in chain if m in sys.modules]}))
"""


def _worker(app, paths: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, app.config["DATABASE_URL"], app.config["INSTANCE_PATH"], *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_creating_the_app_loads_no_chain_library(sqlite_app):
    assert _worker(sqlite_app, []) == {"statuses": {}, "loaded": []}


def test_serving_pages_and_proofs_loads_no_chain_library(app, runner, tmp_path):
    publish_examples(app, tmp_path, pdfs=True)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    ocid = order_ocid(all_examples()[0])
    paths = [
        links.verification_url("", ocid),
        links.verification_json_url("", ocid),
        links.proof_bundle_url("", ocid),
        links.order_pdf_url("", ocid),
        "/api/log/checkpoint",
        "/api/log/checkpoints",
        "/api/log/tile/0/000.p/5",
        "/evidence.json",
        "/evidence/ca.pem",
        "/api/log/tsa-ca.pem",
    ]
    with app.test_client() as client:
        release_id = client.get(links.verification_json_url("", ocid)).get_json()["releaseId"]
    paths.append(links.timestamp_check_url("", ocid, release_id))
    served = _worker(app, paths)
    assert served == {"statuses": dict.fromkeys(paths, 200), "loaded": []}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: str, known: set[str]) -> set[str]:
    """The ``known`` modules ``path`` imports, at module level or inside a function.

    ``from pkg import sub`` imports ``pkg.sub``; it counts as importing ``pkg`` itself only
    when it takes a name defined there (a package is always loaded before its submodules,
    which is not a cycle).
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package of the module
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found & known


def _graph() -> dict[str, set[str]]:
    files = [ROOT / "portal" / "cli.py", *sorted((ROOT / "portal" / "evidence").rglob("*.py"))]
    names = {_module_name(f): f for f in files}
    graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        graph[name] = _imports(path, package, set(names)) - {name}
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current == goal:
            return True
        if current not in seen:
            seen.add(current)
            todo.extend(graph.get(current, ()))
    return False


def test_the_import_graph_knows_the_modules():
    graph = _graph()
    assert "portal.evidence.cli" in graph["portal.cli"]
    assert "portal.evidence.pdfs" in graph["portal.evidence.sealing"]


@pytest.mark.parametrize("module", sorted(_graph()))
def test_no_module_of_the_evidence_package_imports_itself_back(module):
    graph = _graph()
    assert not any(_reaches(graph, imported, module) for imported in graph[module])


@pytest.mark.parametrize("module", sorted(m for m in _graph() if m.startswith("portal.evidence.read")))
def test_the_read_side_never_imports_the_sealing_side(module):
    shared = {"portal.evidence", "portal.evidence.store", "portal.evidence.tables", "portal.evidence.record"}
    graph = _graph()
    assert all(m.startswith("portal.evidence.read") or m in shared for m in graph[module])


@pytest.mark.parametrize(
    "path",
    # The store is the one door to the log's storage (``anchoring.log``).
    sorted(p for p in (ROOT / "portal" / "evidence").rglob("*.py") if p.name != "store.py"),
    ids=lambda p: _module_name(p),
)
def test_only_the_store_touches_the_log_storage(path):
    package = _module_name(path if path.name == "__init__.py" else path.parent / "__init__.py")
    assert _imports(path, package, {"anchoring.log"}) == set()
