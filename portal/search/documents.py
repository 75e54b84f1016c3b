"""What search knows of a contracting process: its identifiers and its words, as one document.

A document is derived from the process's compiled release through the one reading of it,
:func:`ocds.summary.process_facts`, and analysed once (:mod:`portal.search.text`): every
engine indexes the same ``identifiers`` and ``words``.

``identifiers``: the process's identifiers, compacted (:func:`~portal.search.text.compact`): order
number, ocid, and the buyer's and every supplier's OCDS id and identifier (a RUC for Peruvian
parties). Searched by prefix.
``words``: the stems of the title, the framework agreement's title, each item's description and
classification description, the buyer's and every supplier's name, and the order number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import orjson
from sqlalchemy import Connection, select

from ocds.compile import compile_release
from ocds.errors import InputError
from ocds.summary import process_facts
from portal.db import IN_CLAUSE_CHUNK
from portal.models import records, releases
from portal.search.text import analyse, compact

#: Most stems kept in ``words``: an imported process may list thousands of items; their first
#: words are enough to find it, and PostgreSQL caps a tsvector at 1 MB.
MAX_BODY_TERMS = 20_000


@dataclass(frozen=True)
class Document:
    """One process as the search engines index it (see the module docstring)."""

    ocid: str
    identifiers: str
    words: str


def _party_keys(party: dict | None) -> list[str]:
    if not party:
        return []
    identifier = party.get("identifier") or {}
    return [party.get("id") or "", identifier.get("id") or ""]


def document(ocid: str, compiled: dict | None, row: dict | None = None) -> Document:
    """The document of ``ocid`` from its compiled release; from its ``records`` row (browse
    columns) when the releases cannot be compiled, so that such a process is still found."""
    if compiled is not None:
        return document_of(ocid, process_facts(compiled))
    row = row or {}
    names = [row.get("title"), row.get("buyer_name"), row.get("supplier_name"), row.get("order_number")]
    ids = [row.get("order_number"), row.get("buyer_id"), row.get("supplier_id")]
    return _document(ocid, names, ids)


def document_of(ocid: str, facts: dict) -> Document:
    """The document of ``ocid`` from facts already read (``ocds.summary.process_facts`` of its
    compiled release): publishing workers read each order once."""
    framework = facts["framework"] or {}
    order_number = facts["order_number"]
    names = [facts["title"], framework.get("title")]
    for item in facts["items"]:
        names.append(item["description"])
        names.append(item["classification"]["description"])
    ids = [order_number]
    for party in (facts["buyer"], *facts["suppliers"]):
        if party:
            names.append(party["name"])
            ids += _party_keys(party)
    names.append(order_number)
    return _document(ocid, names, ids)


def _document(ocid: str, names: list, ids: list) -> Document:
    # The ocid and the first id (the order number) are the process's own: compacted without
    # the cache, which they would only fill (the parties' ids recur from process to process).
    found = [compact(i) for i in (ocid, *ids[:1]) if i]
    found += [_compact(i) for i in ids[1:] if i]
    keys = dict.fromkeys(k for k in found if k)
    texts = [n for n in names if n]
    if all(type(n) is str for n in texts):
        # The stems of texts joined by spaces are each text's stems in turn (every step of
        # ``analyse`` works within a word, and a space ends a word and any case context), and
        # item descriptions, buyers, suppliers and agreement titles recur from process to
        # process: each text is analysed once per process.
        body: list[str] = []
        for text in texts:
            body += _stems(text)
        if len(body) > MAX_BODY_TERMS:
            del body[MAX_BODY_TERMS:]
    else:
        body = analyse(" ".join(texts))[:MAX_BODY_TERMS]
    return Document(ocid, " ".join(keys), " ".join(body))


@lru_cache(maxsize=32768)
def _stems(text: str) -> tuple[str, ...]:
    # A text's stems are its words' stems in turn, the words cut at whitespace: whitespace is
    # never part of a token (no fold makes it a letter or digit), NFKD reorders marks only
    # between two starters (whitespace is one), and lower case looks across no whitespace (a
    # final sigma's context is cased and case-ignorable letters). Each word is then analysed
    # once per process: a process's own title ("Orden de compra OC-...") only in its new
    # word, which its order number repeats, and a new buyer's name mostly in known words.
    words = text.split()
    if len(words) > 1:
        return tuple(stem for word in words for stem in _stems(word))
    return tuple(analyse(text))


@lru_cache(maxsize=32768)
def _compact(text: str) -> str:
    # Buyers' and suppliers' ids and identifiers recur from process to process, as texts do.
    return compact(text)


def compiled_releases(conn: Connection, ocids: Iterable[str]) -> Iterator[tuple[str, dict | None, dict]]:
    """``(ocid, compiled release or None, records row)`` for each of ``ocids`` that has a record.

    The batched form of :func:`portal.queries.compiled_release` (same answer, proven by the
    tests): the stored compiled release, or the one-release record compiled from its release,
    None when the merge routine refuses the releases; up to IN_CLAUSE_CHUNK ocids per query.
    """
    wanted = list(dict.fromkeys(ocids))
    columns = (
        records.c.ocid,
        records.c.compiled,
        records.c.title,
        records.c.buyer_name,
        records.c.supplier_name,
        records.c.order_number,
        records.c.buyer_id,
        records.c.supplier_id,
    )
    for i in range(0, len(wanted), IN_CLAUSE_CHUNK):
        chunk = wanted[i : i + IN_CLAUSE_CHUNK]
        rows = [dict(r) for r in conn.execute(select(*columns).where(records.c.ocid.in_(chunk))).mappings()]
        alone = [r["ocid"] for r in rows if r["compiled"] is None]
        data: dict[str, list[dict]] = {}
        if alone:
            query = (
                select(releases.c.ocid, releases.c.data)
                .where(releases.c.ocid.in_(alone))
                .order_by(releases.c.ocid, releases.c.date, releases.c.id)
            )
            for ocid, raw in conn.execute(query):
                data.setdefault(ocid, []).append(orjson.loads(raw))
        for row in rows:
            if row["compiled"] is not None:
                compiled = orjson.loads(row["compiled"])
            elif data.get(row["ocid"]):
                try:
                    compiled = compile_release(data[row["ocid"]])
                except InputError:
                    compiled = None
            else:
                compiled = None
            yield row["ocid"], compiled, row


def documents(conn: Connection, ocids: Iterable[str]) -> list[Document]:
    """The documents of those of ``ocids`` that have a record (a missing one has none)."""
    return [document(ocid, compiled, row) for ocid, compiled, row in compiled_releases(conn, ocids)]
