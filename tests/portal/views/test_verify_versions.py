"""The verification page for superseded versions and for orders not yet anchored."""

from __future__ import annotations

from builders import example_order, write_jsonl

from portal.cli import main
from portal.db import app_engine
from portal.publishing import import_orders

PREFIX = "ocds-vrz0pe"


def _publish(app, tmp_path, orders, name):
    summary = import_orders(
        app_engine(app),
        write_jsonl(tmp_path / name, orders),
        ocid_prefix=PREFIX,
        workers=1,
        base_url=app.config["BASE_URL"],
    )
    assert summary.rejects == [], summary.rejects


def test_pending_then_superseded_version_stays_verifiable(app, client, runner, tmp_path):
    first = example_order("1-single")
    ocid = f"{PREFIX}-{first['orderNumber']}"
    _publish(app, tmp_path, [first], "v1.jsonl")

    # logged, not yet sealed: the proof is pending and the page says when it will be sealed
    pending = client.get(f"/api/proofs/{ocid}")
    assert pending.status_code == 202 and pending.get_json()["status"] == "pending"
    facts = client.get(f"/verify/{ocid}.json").get_json()
    assert facts["nextSeal"], "the page must say when the order will be anchored"
    from datetime import datetime

    assert datetime.fromisoformat(facts["nextSeal"]) > datetime.fromisoformat("2026-01-01T00:00:00+00:00")

    assert runner.invoke(main, ["anchor"]).exit_code == 0
    v1 = client.get(f"/verify/{ocid}.json").get_json()
    assert v1["current"] is True and v1["releaseId"].endswith("-v1")

    amended = example_order("1-single", version=2)
    amended["amendments"] = [
        {
            "id": "A1",
            "version": 2,
            "date": "2025-03-10T12:00:00-05:00",
            "rationale": "Cambio de fecha de entrega",
            "changes": [
                {
                    "field": "destinations/0/deliveries/0/dueDate",
                    "previous": "2025-03-14",
                    "new": "2025-03-20",
                }
            ],
        }
    ]
    amended["destinations"][0]["deliveries"][0]["dueDate"] = "2025-03-20"
    _publish(app, tmp_path, [amended], "v2.jsonl")
    assert runner.invoke(main, ["anchor"]).exit_code == 0

    old = client.get(f"/verify/{ocid}.json?release={v1['releaseId']}").get_json()
    assert old["current"] is False and old["currentReleaseId"].endswith("-v2")
    html = client.get(f"/verify/{ocid}?release={v1['releaseId']}").get_data(as_text=True)
    assert "Esta es la versión 1 de 2." in html
    assert "Fue reemplazada por la versión 2 el 10 mar. 2025." in html
    assert f"/verify/{ocid}" in html and old["currentReleaseId"] in html
    # every version stays provable, and the old PDF is still the one it declared
    old_bundle = client.get(f"/api/proofs/{ocid}?release={v1['releaseId']}")
    assert old_bundle.status_code == 200 and old_bundle.get_json()["status"] == "complete"
    assert old_bundle.get_json()["hashes"]["document"] == old["documentHash"]
    current = client.get(f"/api/proofs/{ocid}").get_json()
    assert current["releaseId"].endswith("-v2")
    assert current["hashes"]["document"] != old["documentHash"]
