"""A small published corpus for search (the fixture is in this folder's conftest.py).

Four catalogue orders (documented example 1 with other items, buyers and suppliers) and their
framework agreement, published through ``import_orders`` like any import, so the search
documents are the ones the publishing transaction writes.
"""

from __future__ import annotations

from builders import example_order, write_jsonl

from portal.db import app_engine
from portal.publishing import import_orders

PREFIX = "ocds-vrz0pe"
HUAMANGA = {
    "identifier": "20131370998",
    "name": "Municipalidad Provincial de Huamanga",
    "region": {"code": "05", "name": "Ayacucho"},
}
VIVIENDA = {
    "identifier": "20504743307",
    "name": "Ministerio de Vivienda, Construcción y Saneamiento",
    "region": {"code": "15", "name": "Lima"},
}
HOSPITAL = {
    "identifier": "20452393493",
    "name": "Hospital Regional de Ayacucho",
    "region": {"code": "05", "name": "Ayacucho"},
}
ANDINA = {"identifier": "20512345671", "name": "Distribuidora Andina S.A.C.", "size": "small"}
ESTUDIANTE = {
    "identifier": "20498765432",
    "name": "Librería y Papelería El Estudiante E.I.R.L.",
    "size": "micro",
}
PAPELERA = {"identifier": "20100234567", "name": "Corporación Papelera del Perú S.A.", "size": "large"}


def order(
    number: str, description: str, classification: str, buyer: dict, supplier: dict, version: int = 1
) -> dict:
    """Example order 1 as order ``number`` with one item described as given."""
    base = example_order("1-single")
    item = {
        **base["items"][0],
        "description": description,
        "classification": {"code": "44121706", "description": classification},
    }
    documents = [
        {
            **base["documents"][0],
            "id": f"{number}-pdf",
            "title": f"Orden de compra {number}",
            "url": f"https://catalogos.example.gob.pe/ordenes/{number}.pdf",
        }
    ]
    return example_order(
        "1-single",
        orderNumber=number,
        version=version,
        buyer=buyer,
        supplier=supplier,
        items=[item],
        documents=documents,
    )


ORDERS = {
    "A": order(
        "OC-2025-000123",
        "Computadora de escritorio Core i5, 16 GB RAM",
        "Computadores de escritorio",
        HUAMANGA,
        ANDINA,
    ),
    "B": order(
        "OC-2025-000124",
        "Kit de limpieza: limpiador desinfectante multiuso, galón",
        "Limpiadores de uso general",
        VIVIENDA,
        ESTUDIANTE,
    ),
    "C": order(
        "OC-2024-000999",
        "Neumático 265/70 R16 para camioneta",
        "Llantas para automóviles o camionetas",
        HOSPITAL,
        PAPELERA,
    ),
    "D": order(
        "OC-2025-001230",
        "Papel bond A4 75 g, paquete x 500 hojas",
        "Papel para impresora o fotocopiadora",
        HUAMANGA,
        ANDINA,
    ),
}
#: The ocid of each order, and of the framework agreement they were all ordered under.
OCIDS = {key: f"{PREFIX}-{o['orderNumber']}" for key, o in ORDERS.items()}
AGREEMENT = f"{PREFIX}-AM-EXT-CE-2024-11"


def publish(app, tmp_path, orders: list[dict], name: str = "orders.jsonl") -> None:
    """Publish source orders the way `veraz import-orders` does."""
    path = write_jsonl(tmp_path / name, orders)
    summary = import_orders(app_engine(app), path, ocid_prefix=PREFIX, workers=1)
    assert not summary.rejects, summary.rejects
