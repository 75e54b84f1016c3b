"""The public log API: key, checkpoints, consistency, entries; 400s name the parameter."""

from __future__ import annotations

import base64

import pytest
from builders import example_order
from evidence_builders import publish_examples

from anchoring import merkle, notes
from portal.cli import main


@pytest.fixture
def two_checkpoints(app, runner, tmp_path):
    publish_examples(
        app, tmp_path, [example_order("1-single"), example_order("4-multi-destination")], name="a"
    )
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    publish_examples(app, tmp_path, [example_order("2-package"), example_order("3-partial")], name="b")
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    return app


def test_key_and_checkpoint_are_c2sp_text(two_checkpoints, client):
    key = client.get("/api/log/key")
    assert key.status_code == 200 and key.mimetype == "text/plain"
    vkey = key.text.strip()
    assert len(vkey.split("+")) >= 3
    note = client.get("/api/log/checkpoint")
    assert note.mimetype == "text/plain" and note.text.endswith("\n")
    checkpoint = notes.verify_checkpoint(note.text, vkey)
    history = client.get("/api/log/checkpoints").get_json()["checkpoints"]
    assert checkpoint.size == history[0]["treeSize"]
    assert checkpoint.root.hex() == history[0]["root"]
    assert history[0]["checkpoint"] == note.text
    for item in history:
        assert [(a["type"], a["status"]) for a in item["anchors"]] == [
            ("evm", "done"),
            ("rfc3161", "done"),
        ]


def test_consistency_between_checkpoints(two_checkpoints, client):
    old, new = reversed(client.get("/api/log/checkpoints").get_json()["checkpoints"])
    body = client.get(f"/api/log/consistency?first={old['treeSize']}&second={new['treeSize']}")
    assert body.status_code == 200
    data = body.get_json()
    assert set(data) == {"first", "second", "proof"}
    merkle.verify_consistency(
        old["treeSize"],
        new["treeSize"],
        bytes.fromhex(old["root"]),
        bytes.fromhex(new["root"]),
        [bytes.fromhex(h) for h in data["proof"]],
    )
    same = client.get(f"/api/log/consistency?first={new['treeSize']}&second={new['treeSize']}")
    assert same.get_json()["proof"] == []


def test_entries_mirror_the_whole_log(two_checkpoints, client):
    latest = client.get("/api/log/checkpoints").get_json()["checkpoints"][0]
    leaves = []
    start = 0
    while start < latest["treeSize"]:
        page = client.get(f"/api/log/entries?start={start}&end={min(start + 3, latest['treeSize'])}")
        assert page.status_code == 200
        for entry in page.get_json()["entries"]:
            assert entry["index"] == start
            leaf = merkle.leaf_hash(base64.b64decode(entry["base64"]))
            assert leaf.hex() == entry["leafHash"]
            leaves.append(leaf)
            start += 1
    assert merkle.root_from_leaves(leaves).hex() == latest["root"]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("/api/log/consistency?second=1", "first"),
        ("/api/log/consistency?first=x&second=1", "first"),
        ("/api/log/consistency?first=1&second=-2", "second"),
        ("/api/log/consistency?first=1&second=999999", "second"),
        ("/api/log/entries?start=abc", "start"),
        ("/api/log/entries?start=0&end=999999", "end"),
        ("/api/log/entries?start=5&end=2", "end"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(two_checkpoints, client, query, name):
    response = client.get(query)
    assert response.status_code == 400
    assert f"'{name}'" in response.get_json()["error"]["detail"]


def test_entries_page_is_bounded(app, client, tmp_path):
    app.config["LOG_ENTRIES_MAX_PAGE"] = 2
    publish_examples(app, tmp_path)
    assert client.get("/api/log/entries?start=0&end=3").status_code == 400
    page = client.get("/api/log/entries").get_json()
    assert page["start"] == 0 and page["end"] == 2 and len(page["entries"]) == 2


def test_empty_log(client):
    assert client.get("/api/log/checkpoint").status_code == 404
    assert client.get("/api/log/checkpoints").get_json() == {"checkpoints": []}
    assert client.get("/api/log/entries").get_json()["entries"] == []
