"""Copy the OCDS 1.1.5 schema, codelists and the declared extensions from ../shared into ocds/schema/.

Keeps only what a program uses: structure, types, enums, formats and codes. Titles and
descriptions are dropped (the project's prose is its own). Run from the project root:

    python tools/vendor_ocds.py ../shared
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "ocds" / "schema"

CORE_FILES = [
    "release-schema.json",
    "release-package-schema.json",
    "record-package-schema.json",
    "versioned-release-validation-schema.json",
]
# Extensions Veraz declares (see ocds/schema/__init__.py for the reasons).
EXTENSIONS = {
    "bids": "v1.1.5",
    "location": "v1.1.5",
    "lots": "v1.1.5",
    "techniques": "master",
    "partyScale": "master",
    "contract_suppliers": "master",
    "pagination": "master",
}
PROSE = {"title", "description"}
# Keys under which every member is a property/definition name, not a schema keyword.
NAME_MAPS = {"properties", "definitions", "patternProperties"}


def strip(node, parent_key=None):
    """Drop title/description schema keywords, keeping properties that happen to be called so."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if parent_key not in NAME_MAPS and key in PROSE and not isinstance(value, dict | list):
                continue
            if (
                parent_key not in NAME_MAPS
                and key in PROSE
                and isinstance(value, dict)
                and ("en" in value or "es" in value)
            ):
                continue  # extension.json's translated prose
            out[key] = strip(value, key)
        return out
    if isinstance(node, list):
        return [strip(item, parent_key) for item in node]
    return node


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def write_codes(src: Path, dest: Path) -> None:
    with src.open(encoding="utf-8") as f:
        codes = [row["Code"] for row in csv.DictReader(f)]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("Code\n" + "".join(code + "\n" for code in codes), encoding="utf-8")


def main(shared: Path) -> None:
    core = shared / "ocds-schema" / "1.1.5"
    target = DEST / "1__1__5"
    if target.exists():
        shutil.rmtree(target)
    for name in CORE_FILES:
        write_json(target / name, strip(json.loads((core / name).read_text(encoding="utf-8"))))
    for csv_path in sorted((core / "codelists").glob("*.csv")):
        write_codes(csv_path, target / "codelists" / csv_path.name)

    ext_dest = DEST / "extensions"
    for ext_id, version in EXTENSIONS.items():
        src = shared / "ocds-extensions" / ext_id / version
        out = ext_dest / ext_id
        if out.exists():
            shutil.rmtree(out)
        meta = json.loads((src / "extension.json").read_text(encoding="utf-8"))
        kept = {k: meta[k] for k in ("compatibility", "schemas", "codelists") if k in meta}
        kept["version"] = version
        write_json(out / "extension.json", kept)
        for schema_name in meta.get("schemas", []):
            patch = json.loads((src / schema_name).read_text(encoding="utf-8"))
            write_json(out / schema_name, strip(patch))
        for codelist in meta.get("codelists", []):
            write_codes(src / "codelists" / codelist, out / "codelists" / codelist)
    shutil.copy(shared / "ocds-extensions" / "bids" / "v1.1.5" / "LICENSE", DEST / "LICENSE-OCDS")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT.parent / "shared").resolve())
