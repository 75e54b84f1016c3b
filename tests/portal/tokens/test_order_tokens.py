"""Order tokens end to end on the embedded chain: minting in batches, the metadata JSON, the
QR image, the mint state on the verify and order pages, adoption of tokens the database lost.

SQLite and PostgreSQL for what touches the database; the chain is the persistent embedded one
in the instance folder, as ``veraz anchor`` uses it.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import quote

import orjson
import pytest
from builders import example_order
from evidence_builders import publish_examples
from sqlalchemy import delete, select
from support import make_app
from tokens_support import minted_on_chain, orders_of

from anchoring.chains.token_id import token_id
from portal import links
from portal.db import app_engine
from portal.documents.qr import qr_rows
from portal.evidence.backends import Backends
from portal.models import records, releases
from portal.tokens import mint
from portal.tokens.tables import DONE, order_tokens, token_batches


def test_order_tokens_end_to_end(database_url, tmp_path):
    """One portal per database (publishing and a chain cost seconds): each step on it in turn."""
    app = make_app(database_url, tmp_path, TOKENS_MINT=True, TOKEN_BATCH_SIZE=2)
    publish_examples(app, tmp_path, pdfs=True)
    backends = Backends(app.config)
    try:
        minter = mint.open_minter(app.config, backends)
        report = mint.mint_pending(app_engine(app), app.config, minter)
        every_order_is_minted_once_with_its_data_hash(app, minter, report)
        metadata_json_svg_and_pages(app, minter)
        check_names_a_recorded_token_the_chain_does_not_hold(app, minter)
        tokens_the_database_lost_are_adopted_not_minted_again(app, minter)
        not_an_order_is_a_truthful_404(app)
    finally:
        backends.close()
        app_engine(app).dispose()


def every_order_is_minted_once_with_its_data_hash(app, minter, report):
    orders = orders_of(app)
    assert len(orders) >= 3
    assert report.minted == len(orders)
    assert report.batches == -(-len(orders) // 2)  # TOKEN_BATCH_SIZE orders per transaction
    assert report.gas_used > 0
    for ocid, data_hash in orders.items():
        token = minter.token(ocid)
        assert token is not None, ocid
        assert token.data_hash == data_hash
        assert token.holder == minter.account.address
        assert token.token_uri == links.token_metadata_url(app.config["BASE_URL"], ocid)
    assert minted_on_chain(minter) == Counter({token_id(o): 1 for o in orders})
    with app_engine(app).connect() as conn:
        assert {r.status for r in conn.execute(select(token_batches.c.status))} == {DONE}

    again = mint.mint_pending(app_engine(app), app.config, minter)
    assert (again.minted, again.batches, again.adopted) == (0, 0, 0)
    assert mint.check(app_engine(app), minter) == []


def check_names_a_recorded_token_the_chain_does_not_hold(app, minter):
    ocid = sorted(orders_of(app))[0]
    with app_engine(app).begin() as conn:
        conn.execute(update_hash(ocid, "ab" * 32))
    problems = mint.check(app_engine(app), minter)
    assert [p.ocid for p in problems] == [ocid, ocid]  # no such release; the chain disagrees


def update_hash(ocid: str, value: str):
    return order_tokens.update().where(order_tokens.c.ocid == ocid).values(data_hash=value)


def tokens_the_database_lost_are_adopted_not_minted_again(app, minter):
    orders = orders_of(app)
    with app_engine(app).begin() as conn:
        conn.execute(delete(order_tokens))
        conn.execute(delete(token_batches))
    report = mint.mint_pending(app_engine(app), app.config, minter)
    assert (report.minted, report.adopted) == (0, len(orders))
    assert minted_on_chain(minter) == Counter({token_id(o): 1 for o in orders})
    assert mint.check(app_engine(app), minter) == []


def metadata_json_svg_and_pages(app, minter):
    client = app.test_client()
    ocid = sorted(orders_of(app))[0]
    url = f"/tokens/{quote(ocid, safe='')}.json"
    body = client.get(url)
    assert body.status_code == 200, body.data
    meta = orjson.loads(body.data)
    base = app.config["BASE_URL"]
    assert meta["name"].startswith("Orden de compra ")
    assert meta["external_url"] == links.verification_url(base, ocid)
    assert meta["image"] == links.token_image_url(base, ocid)
    traits = {a["trait_type"]: a["value"] for a in meta["attributes"]}
    with app_engine(app).connect() as conn:
        latest = conn.execute(
            select(releases.c.release_id, releases.c.data_hash)
            .where(releases.c.ocid == ocid)
            .order_by(releases.c.date.desc(), releases.c.id.desc())
        ).first()
    assert traits["Huella de los datos (SHA-256)"] == latest.data_hash
    assert traits["Versión publicada"] == latest.release_id
    assert re.fullmatch(r"[0-9a-f]{64}", traits["Huella del PDF (SHA-256)"])
    assert re.fullmatch(r"[0-9a-f]{64}", traits["Enlace de huellas de las cotizaciones"])
    for key in ("Número de orden", "Entidad compradora", "Proveedor", "Monto", "Moneda", "Estado"):
        assert traits.get(key), key
    token = meta["veraz"]["token"]
    assert token["status"] == "minted"
    assert token["tokenId"] == str(token_id(ocid)) == meta["veraz"]["tokenId"]
    assert token["contract"] == minter.contract_address
    assert meta["localization"]["default"] == "es"

    english = orjson.loads(client.get(url + "?lang=en").data)
    assert english["name"].startswith("Purchase order ")
    assert {a["trait_type"] for a in english["attributes"]} >= {"Data hash (SHA-256)", "Supplier"}
    assert client.get(url + "?lang=fr").status_code == 400
    assert client.get(url + "?color=red").status_code == 400
    assert client.get("/tokens/ocds-nothing-here.json").status_code == 404

    svg = client.get(f"/tokens/{quote(ocid, safe='')}.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    # The dark modules of the SVG are exactly the QR code of the verification URL.
    rows = qr_rows(links.verification_url(base, ocid))
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v8h-\d+z", svg.data.decode())
    dark = {(int(x) // 8 - 4 + k, int(y) // 8 - 4) for x, y, w in runs for k in range(int(w) // 8)}
    assert dark == {(x, y) for y, row in enumerate(rows) for x, c in enumerate(row) if c == "1"}

    # The verify page's JSON twin carries the token the page shows.
    twin = orjson.loads(client.get(f"/verify/{quote(ocid, safe='')}.json").data)
    assert twin["token"] == token
    assert twin["token"]["txHash"] == minter.mint_transaction_of(token_id(ocid))
    verify_html = client.get(f"/verify/{quote(ocid, safe='')}").data.decode()
    assert twin["token"]["txHash"] in verify_html

    for page in (f"/verify/{quote(ocid, safe='')}", f"/contracts/{quote(ocid, safe='')}"):
        html = client.get(page + "?lang=es").data.decode()
        assert minter.contract_address in html, page
        assert str(token_id(ocid)) in html, page
        assert "Token de la orden" in html, page
        html_en = client.get(page + "?lang=en").data.decode()
        assert "Order token" in html_en, page


def not_an_order_is_a_truthful_404(app):
    with app_engine(app).connect() as conn:
        other = conn.execute(select(records.c.ocid).where(records.c.kind != "order").limit(1)).scalar()
    if other is None:  # the examples publish agreements only as links; make one record not an order
        with app_engine(app).begin() as conn:
            other = conn.execute(select(records.c.ocid).limit(1)).scalar_one()
            conn.execute(records.update().where(records.c.ocid == other).values(kind="agreement"))
    answer = app.test_client().get(f"/tokens/{quote(other, safe='')}.json")
    assert answer.status_code == 404
    assert b"not a catalogue order" in answer.data


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_watcher_mints_and_veraz_mint_checks(database_url, tmp_path):
    """``veraz anchor --watch`` seals, anchors, then mints when TOKENS_MINT is on (off: nothing,
    and ``veraz mint`` refuses); ``veraz mint --check`` then names an edited row."""
    from portal.cli import main
    from portal.evidence.sealing import watch

    app = make_app(database_url, tmp_path, TOKENS_MINT=False, CHECKPOINT_INTERVAL=0, TSA_URL="off")
    publish_examples(app, tmp_path, [example_order("1-single")])
    (ocid,) = orders_of(app)
    runner = app.test_cli_runner()
    backends = Backends(app.config)
    try:
        watch(app_engine(app), app.config, backends, tick=0, iterations=1)
        with app_engine(app).connect() as conn:
            assert conn.execute(select(order_tokens.c.ocid)).all() == []
        off = runner.invoke(main, ["mint"])
        assert off.exit_code == 1 and "TOKENS_MINT is off" in off.output
        app.config["TOKENS_MINT"] = True
        watch(app_engine(app), app.config, backends, tick=0, iterations=1)
        with app_engine(app).connect() as conn:
            assert [r.ocid for r in conn.execute(select(order_tokens.c.ocid))] == [ocid]
            assert {r.status for r in conn.execute(select(token_batches.c.status))} == {DONE}
        backends.close()  # the embedded chain has one owner at a time: now the command's
        checked = runner.invoke(main, ["mint", "--check"])
        assert checked.exit_code == 0 and "0 problem(s)" in checked.output, checked.output
        with app_engine(app).begin() as conn:
            conn.execute(update_hash(ocid, "cd" * 32))
        tampered = runner.invoke(main, ["mint", "--check"])
        assert tampered.exit_code == 1
        assert f"{ocid}: the chain holds data hash" in tampered.output
    finally:
        backends.close()
        app_engine(app).dispose()
