"""The API described: OpenAPI 3.1 at ``/api/openapi.json``, a readable page at ``/api/docs``,
and the OCDS package schemas the descriptions refer to at ``/api/schema/<file>``.

The description is built here, from the same settings the routes read (page sizes, the rate
limit), so it cannot drift from what the portal does; ``tests/portal/api`` checks that it lists
every route under ``/api/`` and runs schemathesis against the live app. Summaries and
descriptions are written in English and in Spanish (``x-es``), and the page shows the reader's
language. OCDS payloads are described by their shape (what a client can rely on) and refer to
the official package schemas (``externalDocs``, ``x-ocds-schema``), of which the portal serves
the copies it validates against: the OCDS schemas are JSON Schema draft 4, which OpenAPI 3.1's
dialect does not embed faithfully.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, abort, current_app, render_template
from flask_babel import get_locale

from ocds.schema import CORE_DIR, SCHEMA_BASE
from portal.flags import BY_CODE
from portal.readmodel import api_filters
from portal.views import params

bp = Blueprint("openapi", __name__)

#: The OCDS schema files served at ``/api/schema/<file>`` (copies of the official 1.1.5 ones).
SCHEMA_FILES = (
    "release-package-schema.json",
    "record-package-schema.json",
    "release-schema.json",
    "versioned-release-validation-schema.json",
)

# Patterns are those the views apply (portal.views.api), written for ECMA-262 as OpenAPI wants.
_DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_MOMENT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?$"
)
_IDENTIFIER = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^\\u0000-\\u001f\\u007f]*$"}
_WHOLE = {"type": "integer", "minimum": 0, "maximum": params.LARGEST}
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _text(en: str, es: str) -> dict[str, Any]:
    return {"description": en, "x-es": {"description": es}}


def _param(name: str, where: str, schema: dict, en: str, es: str, *, required: bool = False) -> dict:
    out = {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        **_text(en, es),
    }
    if schema.get("type") == "array":
        out |= {"style": "form", "explode": True}
    return out


def _repeatable(en: str, es: str) -> tuple[dict, str, str]:
    return (
        {"type": "array", "items": _IDENTIFIER, "maxItems": 50},
        en + " Repeat the parameter for several values (any of them matches; at most 50).",
        es + " Repita el parámetro para varios valores (basta con que coincida uno; hasta 50).",
    )


def _json(schema: dict, en: str, es: str, headers: dict | None = None) -> dict:
    out: dict = {**_text(en, es), "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _error(en: str, es: str) -> dict:
    return _json({"$ref": "#/components/schemas/Error"}, en, es)


_NOT_MODIFIED = _text(
    "Not modified: the `If-None-Match` header named the current ETag.",
    "Sin cambios: la cabecera `If-None-Match` nombraba la ETag actual.",
)
_ETAG = {
    "ETag": {
        "schema": {"type": "string"},
        **_text(
            "Validator of this answer; send it back in `If-None-Match` to get a 304 when nothing "
            "changed (weak, `W/`, when the body was compressed).",
            "Validador de esta respuesta; devuélvalo en `If-None-Match` para recibir un 304 si nada "
            "cambió (débil, `W/`, si el cuerpo se comprimió).",
        ),
    }
}
_BAD_PARAMETER = _error(
    "A parameter is unknown or malformed; `detail` names it and says what it accepts.",
    "Un parámetro es desconocido o mal escrito; `detail` lo nombra y dice qué acepta.",
)
_TOO_MANY = {
    **_error(
        "Too many requests from this client; wait `Retry-After` seconds. Bulk files are the way "
        "to take everything.",
        "Demasiadas solicitudes de este cliente; espere `Retry-After` segundos. Los archivos "
        "completos son la forma de llevarse todo.",
    ),
    "headers": {
        "Retry-After": {
            "schema": {"type": "string"},
            **_text("Seconds to wait before asking again.", "Segundos de espera antes de volver a pedir."),
        }
    },
}


def _operation(
    op_id: str,
    tag: str,
    summary: tuple[str, str],
    description: tuple[str, str],
    parameters: list[dict],
    responses: dict[str, dict],
    *,
    conditional: bool = True,
) -> dict:
    """One GET operation; every one may answer 429 (the rate limit) and, with ``conditional``,
    304 (``If-None-Match``)."""
    out = {
        "operationId": op_id,
        "tags": [tag],
        "summary": summary[0],
        "description": description[0],
        "x-es": {"summary": summary[1], "description": description[1]},
        "parameters": parameters,
        "responses": {**responses, **({"304": _NOT_MODIFIED} if conditional else {}), "429": _TOO_MANY},
    }
    return {"get": out}


def _ocds(kind: str) -> dict:
    """What a client can rely on in an OCDS package of ``kind`` (release or record), with the
    official schema it validates against."""
    contents = "releases" if kind == "release" else "records"
    official = f"{SCHEMA_BASE}{kind}-package-schema.json"
    item: dict = (
        {"$ref": "#/components/schemas/Release"}
        if kind == "release"
        else {
            "type": "object",
            "required": ["ocid", "releases"],
            "properties": {
                "ocid": {"type": "string"},
                "releases": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/components/schemas/Release"},
                },
                "compiledRelease": {"$ref": "#/components/schemas/Release"},
                "versionedRelease": {"type": "object"},
            },
        }
    )
    return {
        "type": "object",
        "required": ["uri", "publisher", "publishedDate", "version"],
        "properties": {
            "uri": {"type": "string"},
            "version": {"const": "1.1"},
            "extensions": {"type": "array", "items": {"type": "string"}},
            "publishedDate": {"type": "string"},
            "publisher": {
                "type": "object",
                "required": ["name"],
                "properties": {k: {"type": "string"} for k in ("name", "scheme", "uid", "uri")},
            },
            "license": {"type": "string"},
            "publicationPolicy": {"type": "string"},
            contents: {"type": "array", "items": item},
            "links": {
                "type": "object",
                "properties": {"next": {"type": "string"}, "prev": {"type": "string"}},
                "additionalProperties": False,
            },
            "invalidReleases": {"type": "array", "items": {"type": "object"}},
        },
        "description": f"An OCDS 1.1 {kind} package; it validates against the official {kind} package "
        f"schema ({official}, served by the portal at /api/schema/{kind}-package-schema.json) with the "
        "extensions it declares. A page of a list declares the pagination extension, and an empty "
        f"page leaves `{contents}` out.",
        "externalDocs": {"url": official},
        "x-ocds-schema": {"official": official, "local": f"/api/schema/{kind}-package-schema.json"},
    }


def _components() -> dict:
    return {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["status", "title", "detail"],
                        "properties": {
                            "status": {"type": "integer"},
                            "title": {"type": "string"},
                            "detail": {"type": "string"},
                        },
                    }
                },
            },
            "Release": {
                "type": "object",
                "description": "An OCDS release as published (imported releases exactly as their "
                "publisher wrote them, so only the keys the release schema requires are promised).",
                "externalDocs": {"url": f"{SCHEMA_BASE}release-schema.json"},
            },
            "ReleasePackage": _ocds("release"),
            "RecordPackage": _ocds("record"),
            "ProofBundle": {
                "type": "object",
                "description": "A proof bundle (docs/proof-format.md, 'Proof bundle'): `complete` "
                "with the inclusion proof, signed checkpoint and anchors, or `pending` before the "
                "entry is sealed.",
                "required": ["version", "status", "leafIndex", "leafHash", "entry"],
                "properties": {
                    "version": {"type": "integer"},
                    "status": {"enum": ["complete", "pending"]},
                    "leafIndex": {"type": "integer", "minimum": 0},
                    "leafHash": _HEX64,
                    "entry": {
                        "type": "object",
                        "required": ["kind", "base64"],
                        "properties": {"kind": {"type": "string"}, "base64": {"type": "string"}},
                    },
                    "treeSize": {"type": "integer", "minimum": 1},
                    "inclusionProof": {"type": "array", "items": _HEX64},
                    "checkpoint": {"type": "string"},
                    "anchors": {"type": "array", "items": {"type": "object"}},
                },
            },
        }
    }


def _list_parameters(cfg: dict, kind: str) -> list[dict]:
    date_en, date_es = (
        ("the release's date", "la fecha de la entrega (release)")
        if kind == "release"
        else ("the process's date (its first release)", "la fecha del proceso (su primera entrega)")
    )
    since_en, since_es = (
        ("published (stored by this portal)", "publicadas (guardadas por este portal)")
        if kind == "release"
        else ("whose newest release was published", "cuya entrega más reciente se publicó")
    )
    filters = {
        "buyer": ("The buyer's id (`buyer.id`).", "El id del comprador (`buyer.id`)."),
        "supplier": ("A supplier's id (any supplier of the process).", "El id de un proveedor del proceso."),
        "agreement": (
            "The ocid of the framework agreement the order is a call-off of.",
            "El ocid del acuerdo marco del que deriva la orden.",
        ),
        "procurement_method": (
            "`catalogue_order`, `framework_agreement`, or the `tender.procurementMethod` of imported OCDS.",
            "`catalogue_order`, `framework_agreement` o el `tender.procurementMethod` del OCDS importado.",
        ),
        "region": (
            "The delivery region (else the buyer's).",
            "La región de entrega (si no, la del comprador).",
        ),
    }
    assert set(filters) == set(api_filters.PROCESS_FILTERS)
    out = [
        _param(
            "limit",
            "query",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": cfg["API_MAX_PAGE_SIZE"],
                "default": cfg["API_PAGE_SIZE"],
            },
            f"Items per page, 1 to {cfg['API_MAX_PAGE_SIZE']} (default {cfg['API_PAGE_SIZE']}).",
            f"Elementos por página, de 1 a {cfg['API_MAX_PAGE_SIZE']} (por defecto {cfg['API_PAGE_SIZE']}).",
        ),
        _param(
            "cursor",
            "query",
            {**_WHOLE, "default": 0},
            "Resume after this key (take it from `links.next`; 0 starts at the beginning).",
            "Continuar después de esta clave (tómela de `links.next`; 0 empieza desde el inicio).",
        ),
    ]
    for name, (en, es) in filters.items():
        out.append(_param(name, "query", *_repeatable(en, es)))
    out += [
        _param("ocid", "query", _IDENTIFIER, "Exactly this ocid.", "Exactamente este ocid."),
        _param(
            "ocid_prefix",
            "query",
            _IDENTIFIER,
            "Ocids that start with this text (case-sensitive), such as a publisher's prefix.",
            "Ocids que empiezan con este texto (distingue mayúsculas), como el prefijo de un publicador.",
        ),
        _param(
            "date_from",
            "query",
            {"type": "string", "pattern": _DAY},
            f"From this day (YYYY-MM-DD, inclusive), by {date_en} as written.",
            f"Desde este día (AAAA-MM-DD, inclusive), según {date_es} tal como se escribió.",
        ),
        _param(
            "date_to",
            "query",
            {"type": "string", "pattern": _DAY},
            f"Up to this day (YYYY-MM-DD, inclusive), by {date_en} as written.",
            f"Hasta este día (AAAA-MM-DD, inclusive), según {date_es} tal como se escribió.",
        ),
        _param(
            "since",
            "query",
            {"type": "string", "pattern": _MOMENT},
            f"Only items {since_en} at or after this moment: a date (from midnight UTC) or a "
            "date-time with its offset. For incremental harvesting, prefer the cursor.",
            f"Solo elementos {since_es} en este momento o después: una fecha (desde la medianoche "
            "UTC) o una fecha y hora con su desfase. Para cosechar lo nuevo, prefiera el cursor.",
        ),
    ]
    return out


def _paths(cfg: dict) -> dict:
    ocid = _param("ocid", "path", {"type": "string", "minLength": 1}, "The ocid.", "El ocid.")
    not_found = _error("Nothing with that identifier.", "No hay nada con ese identificador.")
    release_package = {"$ref": "#/components/schemas/ReleasePackage"}
    record_package = {"$ref": "#/components/schemas/RecordPackage"}
    bundle = {"$ref": "#/components/schemas/ProofBundle"}
    text_plain = {"text/plain": {"schema": {"type": "string"}}}
    # A tile index is written in groups (``x001/x234/067``) and a partial tile adds ``.p/<width>``:
    # slashes an OpenAPI path parameter cannot hold, so the description names the first 1,000
    # tiles' form, and says the rest in words.
    tile_path = {"type": "string", "pattern": "^[0-9]{3}$"}
    tile_words = (
        "Tile index N written in groups of three digits, every group but the last prefixed "
        "with x (1234067 is x001/x234/067); a partial tile of width W adds .p/W. See "
        "https://c2sp.org/tlog-tiles.",
        "Índice N del bloque en grupos de tres dígitos, cada grupo salvo el último con el prefijo "
        "x (1234067 es x001/x234/067); un bloque parcial de ancho W añade .p/W. Véase "
        "https://c2sp.org/tlog-tiles.",
    )
    tile_found = {
        **_text("The tile's bytes.", "Los bytes del bloque."),
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
    tile_missing = _error(
        "Malformed tile path, or no signed checkpoint covers this tile yet.",
        "Ruta de bloque mal escrita, o ningún punto de control firmado lo cubre aún.",
    )
    return {
        "/api/releases": _operation(
            "listReleases",
            "OCDS",
            ("Releases, page by page", "Entregas (releases), página por página"),
            (
                "Every release in the order it was published, filtered; a release package per page, "
                "with `links.next` while more follow. A page ends early where the publisher changes "
                "(imported data keeps its own publisher).",
                "Todas las entregas en el orden en que se publicaron, filtradas; un paquete de "
                "entregas por página, con `links.next` mientras haya más. Una página termina antes "
                "donde cambia el publicador (los datos importados conservan el suyo).",
            ),
            _list_parameters(cfg, "release"),
            {
                "200": _json(release_package, "A release package.", "Un paquete de entregas.", _ETAG),
                "400": _BAD_PARAMETER,
            },
        ),
        "/api/records": _operation(
            "listRecords",
            "OCDS",
            ("Records, page by page", "Registros (records), página por página"),
            (
                "Every record, listed at its newest release (a record that changes comes again "
                "later), filtered; a record package per page with each record's releases and "
                "compiled release, and `links.next` while more follow. The versioned release is "
                "at /api/records/{ocid}.",
                "Todos los registros, cada uno en la posición de su entrega más reciente (un "
                "registro que cambia vuelve a aparecer después), filtrados; un paquete de registros "
                "por página con las entregas y la entrega compilada, y `links.next` mientras haya "
                "más. La entrega versionada está en /api/records/{ocid}.",
            ),
            _list_parameters(cfg, "record"),
            {
                "200": _json(record_package, "A record package.", "Un paquete de registros.", _ETAG),
                "400": _BAD_PARAMETER,
            },
        ),
        "/api/releases/{release_id}": _operation(
            "getRelease",
            "OCDS",
            ("One release", "Una entrega"),
            ("One release by its id, in a release package.", "Una entrega por su id, en un paquete."),
            [
                _param(
                    "release_id", "path", {"type": "string", "minLength": 1}, "The release's id.", "El id."
                ),
                _param(
                    "ocid",
                    "query",
                    {"type": "string"},
                    "The process, when several use this release id.",
                    "El proceso, cuando varios usan este id de entrega.",
                ),
            ],
            {
                "200": _json(release_package, "A release package.", "Un paquete de entregas.", _ETAG),
                "400": _BAD_PARAMETER,
                "404": not_found,
                "409": _error(
                    "Several processes use this release id: add `ocid`.",
                    "Varios procesos usan este id: añada `ocid`.",
                ),
            },
        ),
        "/api/records/{ocid}": _operation(
            "getRecord",
            "OCDS",
            ("One record", "Un registro"),
            (
                "The record of a contracting process: its releases, compiled release and versioned release.",
                "El registro de un proceso de contratación: sus entregas, la compilada y la versionada.",
            ),
            [ocid],
            {
                "200": _json(record_package, "A record package.", "Un paquete de registros.", _ETAG),
                "400": _BAD_PARAMETER,
                "404": not_found,
            },
        ),
        "/api/schema/{filename}": _operation(
            "getSchema",
            "OCDS",
            ("OCDS 1.1.5 schemas", "Esquemas OCDS 1.1.5"),
            (
                "The copies of the official OCDS 1.1.5 schemas the portal validates against.",
                "Las copias de los esquemas oficiales OCDS 1.1.5 con que el portal valida.",
            ),
            [_param("filename", "path", {"enum": list(SCHEMA_FILES)}, "The schema file.", "El archivo.")],
            {
                "200": _json(
                    {"type": "object"}, "A JSON Schema (draft 4).", "Un JSON Schema (draft 4).", _ETAG
                ),
                "404": not_found,
            },
        ),
        "/api/openapi.json": _operation(
            "getOpenAPI",
            "OCDS",
            ("This description", "Esta descripción"),
            ("The API's OpenAPI 3.1 description.", "La descripción OpenAPI 3.1 de la API."),
            [],
            {"200": _json({"type": "object"}, "OpenAPI 3.1.", "OpenAPI 3.1.", _ETAG), "400": _BAD_PARAMETER},
        ),
        "/api/docs": _operation(
            "getDocs",
            "OCDS",
            ("This description, as a page", "Esta descripción, como página"),
            (
                "The description for people, in Spanish or English.",
                "La descripción para personas, en español o inglés.",
            ),
            [],
            {
                "200": {
                    **_text("A page.", "Una página."),
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                "400": _BAD_PARAMETER,
            },
        ),
        "/api/log/key": _operation(
            "getLogKey",
            "Evidence log",
            ("The log's verifier key", "La clave verificadora del registro"),
            (
                "The C2SP signed-note verifier key (`<name>+<hash>+<base64>`) that signs checkpoints.",
                "La clave verificadora C2SP (`<nombre>+<hash>+<base64>`) que firma los puntos de control.",
            ),
            [],
            {"200": {**_text("The key.", "La clave."), "content": text_plain}},
        ),
        "/api/log/tsa-ca.pem": _operation(
            "getTsaCa",
            "Evidence log",
            ("The timestamp CA", "La CA de sellos de tiempo"),
            (
                "The CA certificate that verifies the portal's RFC 3161 tokens.",
                "El certificado de la CA que verifica los sellos RFC 3161 del portal.",
            ),
            [],
            {
                "200": {
                    **_text("PEM certificates.", "Certificados PEM."),
                    "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
                },
                "404": _error(
                    "No checkpoint was timestamped yet.", "Aún no se selló ningún punto de control."
                ),
            },
        ),
        "/api/log/checkpoint": _operation(
            "getCheckpoint",
            "Evidence log",
            ("The latest checkpoint", "El último punto de control"),
            (
                "The latest signed checkpoint as C2SP signed-note text (with witnesses' cosignatures).",
                "El último punto de control firmado, como texto de nota firmada C2SP (con cofirmas).",
            ),
            [],
            {
                "200": {**_text("A signed note.", "Una nota firmada."), "content": text_plain},
                "404": _error("No checkpoint yet.", "Aún no hay punto de control."),
            },
        ),
        "/api/log/checkpoints": _operation(
            "listCheckpoints",
            "Evidence log",
            ("Every checkpoint", "Todos los puntos de control"),
            (
                "Every sealed checkpoint, newest first, with its anchors.",
                "Todos, del más reciente, con sus anclas.",
            ),
            [],
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["checkpoints"],
                        "properties": {
                            "checkpoints": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["treeSize", "root", "checkpoint", "anchors"],
                                    "properties": {
                                        "treeSize": {"type": "integer", "minimum": 0},
                                        "root": _HEX64,
                                        "checkpoint": {"type": "string"},
                                        "sealedAt": {"type": ["string", "null"]},
                                        "anchors": {"type": "array", "items": {"type": "object"}},
                                    },
                                },
                            }
                        },
                    },
                    "The checkpoints.",
                    "Los puntos de control.",
                    _ETAG,
                )
            },
        ),
        "/api/log/consistency": _operation(
            "getConsistency",
            "Evidence log",
            ("Consistency proof", "Prueba de consistencia"),
            (
                "RFC 9162 consistency proof between two tree sizes (1 <= first <= second <= log size).",
                "Prueba de consistencia RFC 9162 entre dos tamaños (1 <= first <= second <= tamaño).",
            ),
            [
                _param(
                    "first", "query", _WHOLE, "The older tree size.", "El tamaño anterior.", required=True
                ),
                _param(
                    "second", "query", _WHOLE, "The newer tree size.", "El tamaño posterior.", required=True
                ),
            ],
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["first", "second", "proof"],
                        "properties": {
                            "first": {"type": "integer"},
                            "second": {"type": "integer"},
                            "proof": {"type": "array", "items": _HEX64},
                        },
                    },
                    "The proof's hashes.",
                    "Los hashes de la prueba.",
                    _ETAG,
                ),
                "400": _BAD_PARAMETER,
            },
        ),
        "/api/log/entries": _operation(
            "listEntries",
            "Evidence log",
            ("Log entries", "Entradas del registro"),
            (
                f"Entries `start` (inclusive) to `end` (exclusive, at most {cfg['LOG_ENTRIES_MAX_PAGE']} "
                "further), each with its exact bytes and leaf hash.",
                f"Entradas de `start` (inclusive) a `end` (exclusive, hasta {cfg['LOG_ENTRIES_MAX_PAGE']} "
                "más), cada una con sus bytes exactos y su hash de hoja.",
            ),
            [
                _param("start", "query", {**_WHOLE, "default": 0}, "First entry.", "Primera entrada."),
                _param("end", "query", _WHOLE, "Entry after the last.", "Entrada después de la última."),
            ],
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["start", "end", "treeSize", "entries"],
                        "properties": {
                            "start": {"type": "integer"},
                            "end": {"type": "integer"},
                            "treeSize": {"type": "integer"},
                            "entries": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["index", "base64", "leafHash"],
                                    "properties": {
                                        "index": {"type": "integer"},
                                        "base64": {"type": "string"},
                                        "leafHash": _HEX64,
                                    },
                                },
                            },
                        },
                    },
                    "The entries.",
                    "Las entradas.",
                    _ETAG,
                ),
                "400": _BAD_PARAMETER,
            },
        ),
        "/api/log/tile/{level}/{path}": _operation(
            "getTile",
            "Evidence log",
            ("A C2SP tlog-tiles tile", "Un bloque C2SP tlog-tiles"),
            (
                "Tile `path` (`x001/x234/067`, `.p/<width>` when partial) of level `level`.",
                "El bloque `path` (`x001/x234/067`, `.p/<ancho>` si es parcial) del nivel `level`.",
            ),
            [
                _param("level", "path", {"type": "integer", "minimum": 0, "maximum": 63}, "Level.", "Nivel."),
                _param("path", "path", tile_path, *tile_words),
            ],
            {"200": tile_found, "400": _BAD_PARAMETER, "404": tile_missing},
        ),
        "/api/log/tile/entries/{path}": _operation(
            "getEntryBundle",
            "Evidence log",
            ("A C2SP entry bundle", "Un paquete de entradas C2SP"),
            ("Entry bundle `path` (as a tile index).", "El paquete de entradas `path` (como un índice)."),
            [_param("path", "path", tile_path, *tile_words)],
            {"200": tile_found, "404": tile_missing},
        ),
        "/api/proofs/{ocid}": _operation(
            "getProof",
            "Proofs",
            ("A release's proof bundle", "El paquete de prueba de una entrega"),
            (
                "Proof that a release (the latest of `ocid`, or `release`) is in the log: 200 when "
                "sealed (`complete`), 202 while pending.",
                "Prueba de que una entrega (la última de `ocid`, o `release`) está en el registro: 200 "
                "si está sellada (`complete`), 202 mientras está pendiente.",
            ),
            [ocid, _param("release", "query", {"type": "string"}, "A release id.", "Un id de entrega.")],
            {
                "200": _json(bundle, "Complete bundle.", "Paquete completo.", _ETAG),
                "202": _json(bundle, "Pending bundle.", "Paquete pendiente."),
                "404": not_found,
            },
        ),
        "/api/proofs/{ocid}/proformas/{proforma_id}": _operation(
            "getProformaProof",
            "Proofs",
            ("A quote's proof bundle", "El paquete de prueba de una proforma"),
            (
                "Proof that a supplier's quote is in the log.",
                "Prueba de que una proforma está en el registro.",
            ),
            [
                ocid,
                _param(
                    "proforma_id", "path", {"type": "string", "minLength": 1}, "The quote.", "La proforma."
                ),
            ],
            {
                "200": _json({"type": "object"}, "Complete bundle.", "Paquete completo.", _ETAG),
                "202": _json({"type": "object"}, "Pending bundle.", "Paquete pendiente."),
                "404": not_found,
            },
        ),
        "/api/proofs/files/{name}": _operation(
            "getFileProof",
            "Proofs",
            ("A bulk file's proof bundle", "El paquete de prueba de un archivo de descarga masiva"),
            (
                "Proof that a bulk download file (its newest version, or the one with `sha256`) "
                "is in the log: 200 when sealed (`complete`), 202 while pending. Check a file "
                "with `veraz verify-file FILE --bundle BUNDLE`.",
                "Prueba de que un archivo de descarga masiva (su versión más reciente, o la de "
                "`sha256`) está en el registro: 200 si está sellado (`complete`), 202 mientras "
                "está pendiente. Se comprueba con `veraz verify-file ARCHIVO --bundle PAQUETE`.",
            ),
            [
                _param(
                    "name", "path", {"type": "string", "minLength": 1}, "File name.", "Nombre del archivo."
                ),
                _param(
                    "sha256",
                    "query",
                    {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "SHA-256 of the version.",
                    "SHA-256 de la versión.",
                ),
            ],
            {
                "200": _json({"type": "object"}, "Complete bundle.", "Paquete completo.", _ETAG),
                "202": _json({"type": "object"}, "Pending bundle.", "Paquete pendiente."),
                "400": _BAD_PARAMETER,
                "404": not_found,
            },
        ),
        "/api/documents/{sha256}": _operation(
            "findDocument",
            "Proofs",
            ("Which order PDF has this hash", "Qué PDF de orden tiene este hash"),
            (
                "The published order PDFs with this SHA-256 (an empty list when none).",
                "Los PDF de órdenes publicados con este SHA-256 (lista vacía si no hay).",
            ),
            [
                _param(
                    "sha256",
                    "path",
                    {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                    "SHA-256.",
                    "SHA-256.",
                )
            ],
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["sha256", "documents"],
                        "properties": {
                            "sha256": _HEX64,
                            "documents": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                    "The documents.",
                    "Los documentos.",
                    _ETAG,
                ),
                "400": _BAD_PARAMETER,
            },
        ),
        "/api/flags": _operation(
            "listFlags",
            "Red flags",
            ("Red flags", "Alertas"),
            (
                "What /flags shows, as JSON: every red flag with what it marks (docs/red-flags.md).",
                "Lo que muestra /flags, en JSON: cada alerta con lo que marca (docs/red-flags.md).",
            ),
            [
                _param(
                    "flag", "query", {"enum": list(BY_CODE)}, "One flag's list.", "La lista de una alerta."
                ),
                *[
                    _param(name, "query", {"type": "string", "maxLength": 255}, en, es)
                    for name, en, es in (
                        ("buyer", "The buyer's id.", "El id del comprador."),
                        ("supplier", "A supplier's id.", "El id de un proveedor."),
                        ("agreement", "A framework agreement's ocid.", "El ocid de un acuerdo marco."),
                    )
                ],
                *[
                    _param(
                        name, "query", {"type": "string", "pattern": "^([0-9]{4}-(0[1-9]|1[0-2]))?$"}, en, es
                    )
                    for name, en, es in (
                        ("from", "From this month (YYYY-MM).", "Desde este mes (AAAA-MM)."),
                        ("to", "Up to this month (YYYY-MM).", "Hasta este mes (AAAA-MM)."),
                    )
                ],
                _param(
                    "limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "Rows.", "Filas."
                ),
                _param(
                    "offset",
                    "query",
                    {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                    "Skip.",
                    "Saltar.",
                ),
            ],
            {"200": _json({"type": "object"}, "The flags.", "Las alertas.", _ETAG), "400": _BAD_PARAMETER},
        ),
        "/api/flags/orders/{ocid}": _operation(
            "getOrderFlags",
            "Red flags",
            ("An order's red flags", "Las alertas de una orden"),
            (
                "The flags that concern one order (raised on it, its buyer, supplier, their pair "
                "or its agreement).",
                "Las alertas que atañen a una orden (sobre ella, su comprador, proveedor, el par "
                "o su acuerdo).",
            ),
            [ocid],
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["ocid", "flags"],
                        "properties": {"ocid": {"type": "string"}, "flags": {"type": "array"}},
                    },
                    "The flags.",
                    "Las alertas.",
                    _ETAG,
                ),
                "400": _BAD_PARAMETER,
                "404": not_found,
            },
        ),
        "/verify/{ocid}.json": _operation(
            "getVerificationFacts",
            "Proofs",
            ("What the verification page checks", "Lo que verifica la página de verificación"),
            (
                "The facts /verify/{ocid} recomputes in the browser: versions, hashes, proof.",
                "Los datos que /verify/{ocid} recalcula en el navegador: versiones, hashes, prueba.",
            ),
            [ocid, _param("release", "query", {"type": "string"}, "A release id.", "Un id de entrega.")],
            {"200": _json({"type": "object"}, "The facts.", "Los datos.", _ETAG), "404": not_found},
        ),
        "/verify/{ocid}/timestamp.json": _operation(
            "getTimestampCheck",
            "Proofs",
            ("The RFC 3161 token's check", "La verificación del sello RFC 3161"),
            (
                "The portal's check of the RFC 3161 token of the release's checkpoint (null if none yet).",
                "La verificación del sello RFC 3161 del punto de control de la entrega (null si aún no hay).",
            ),
            [ocid, _param("release", "query", {"type": "string"}, "A release id.", "Un id de entrega.")],
            {"200": _json({"type": ["object", "null"]}, "The check.", "La verificación.", _ETAG)},
        ),
    }


def spec(cfg: dict) -> dict:
    """The OpenAPI 3.1 description of the portal's API under ``cfg`` (its settings)."""
    rate = cfg["API_RATE_LIMIT"].strip() or "none"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Veraz API",
            "version": "1",
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
            "description": (
                "OCDS 1.1 releases and records of the portal, and its evidence log and proofs. "
                "Every unknown or malformed parameter is a 400 that names it. Answers are "
                "compressed on request (`Accept-Encoding: gzip`), carry an ETag (send "
                "`If-None-Match` for a 304), may be read from any origin (CORS) and are limited "
                f"per client ({rate}; 429 with `Retry-After`). `lang=es|en` is accepted everywhere. "
                "Harvester's guide: docs/api.md."
            ),
            "x-es": {
                "description": (
                    "Entregas y registros OCDS 1.1 del portal, y su registro de evidencias y "
                    "pruebas. Todo parámetro desconocido o mal escrito es un 400 que lo nombra. "
                    "Las respuestas se comprimen si se pide (`Accept-Encoding: gzip`), llevan ETag "
                    "(envíe `If-None-Match` para un 304), pueden leerse desde cualquier origen "
                    f"(CORS) y tienen un límite por cliente ({rate}; 429 con `Retry-After`). "
                    "`lang=es|en` se acepta en todas."
                )
            },
        },
        "servers": [{"url": cfg["BASE_URL"].rstrip("/")}],
        "tags": [
            {"name": "OCDS", **_text("Releases, records, schemas.", "Entregas, registros, esquemas.")},
            {"name": "Evidence log", **_text("The C2SP log and its checkpoints.", "El registro C2SP.")},
            {"name": "Proofs", **_text("Proof bundles and verification.", "Pruebas y verificación.")},
            {"name": "Red flags", **_text("Red flags (docs/red-flags.md).", "Alertas (docs/red-flags.md).")},
            {
                "name": "Intake",
                **_text("Quotes and orders sent in (docs/intake.md).", "Envío de proformas y órdenes."),
            },
        ],
        "paths": {**_paths(cfg), **_intake_paths(cfg)},
        "components": {**_components(), "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


@bp.get("/api/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 description of every API route."""
    params.only_params(())
    return Response(orjson.dumps(spec(current_app.config)), mimetype="application/json")


@bp.get("/api/schema/<filename>")
def schema_file(filename: str):
    """A copy of an official OCDS 1.1.5 schema, as the portal validates with it."""
    params.only_params(())
    if filename not in SCHEMA_FILES:
        abort(404, description=f"No schema {filename!r}; there are {', '.join(SCHEMA_FILES)}.")
    return Response((CORE_DIR / filename).read_bytes(), mimetype="application/json")


@bp.get("/api/docs")
def docs():
    """The description as a page, in the reader's language."""
    params.only_params(())
    cfg = current_app.config
    spec_now = spec(cfg)
    locale = get_locale()
    spanish = locale is not None and locale.language == "es"
    operations = []
    for path, op in ((path, op) for path, item in spec_now["paths"].items() for op in item.values()):
        words = op["x-es"] if spanish else op
        operations.append(
            {
                "path": path,
                "id": op["operationId"],
                "tag": op["tags"][0],
                "summary": words["summary"],
                "description": words["description"],
                "parameters": [
                    {
                        "name": p["name"],
                        "in": p["in"],
                        "required": p["required"],
                        "schema": _schema_words(p["schema"]),
                        "description": p["x-es"]["description"] if spanish else p["description"],
                    }
                    for p in op["parameters"]
                ],
                "responses": [
                    {
                        "status": status,
                        "description": r["x-es"]["description"] if spanish else r["description"],
                        "types": sorted(r.get("content", {})),
                    }
                    for status, r in op["responses"].items()
                ],
            }
        )
    info = spec_now["info"]
    return render_template(
        "api_docs.html",
        operations=operations,
        tags=[t["name"] for t in spec_now["tags"]],
        description=info["x-es"]["description"] if spanish else info["description"],
        server=spec_now["servers"][0]["url"],
    )


def _schema_words(schema: dict) -> str:
    """A parameter's schema in a few words (``integer 1–1000``, ``YYYY-MM-DD``...)."""
    if schema.get("type") == "array":
        return _schema_words(schema["items"]) + " ×n"
    if "enum" in schema:
        return " | ".join(schema["enum"])
    if schema.get("pattern") == _DAY:
        return "YYYY-MM-DD"
    if schema.get("pattern") == _MOMENT:
        return "YYYY-MM-DD[Thh:mm[:ss]±hh:mm|Z]"
    if schema.get("type") == "integer":
        return f"integer {schema.get('minimum', 0)}–{schema.get('maximum', '')}"
    return str(schema.get("type", "string"))


def _intake_paths(cfg: dict) -> dict:
    """``POST /api/intake/quotes`` and ``/orders``: the only writing routes (docs/intake.md)."""
    record = {"type": "object"}
    body = {
        "required": True,
        **_text(
            "One record (a JSON object), an array of them, or JSON Lines (one per line); at most "
            f"{cfg['INTAKE_MAX_RECORDS']} records and {cfg['INTAKE_MAX_BODY_BYTES']} bytes.",
            f"Un registro (objeto JSON), un arreglo de ellos, o JSON Lines (uno por línea); hasta "
            f"{cfg['INTAKE_MAX_RECORDS']} registros y {cfg['INTAKE_MAX_BODY_BYTES']} bytes.",
        ),
        "content": {
            "application/json": {
                "schema": {"oneOf": [record, {"type": "array", "items": record, "minItems": 1}]}
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
    problems = {
        "type": "object",
        "required": ["error", "problems"],
        "properties": {
            "error": {"$ref": "#/components/schemas/Error/properties/error"},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["record", "id", "field", "reason"],
                    "properties": {
                        "record": {"type": "integer"},
                        "id": {"type": "string"},
                        "field": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
            },
        },
    }
    receipts = {
        "type": "object",
        "required": ["receipts"],
        "properties": {"receipts": {"type": "array", "items": {"type": "object"}}},
    }
    challenge = {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            **_text('`Bearer realm="veraz-intake"`, with the error.', "`Bearer realm=...`, con el error."),
        }
    }
    limit = str(cfg["INTAKE_RATE_LIMIT"]).strip() or "none"

    def operation(op_id: str, what: tuple[str, str], scope: str) -> dict:
        return {
            "post": {
                "operationId": op_id,
                "tags": ["Intake"],
                "summary": f"Send {what[0]}",
                "description": (
                    f"Logs and stores {what[0]} (bearer token of scope `{scope}`; `veraz tokens`), all "
                    f"or nothing per request; answers each record with its receipt: the log entry, its "
                    f"leaf index and hash, and its proof's URL. Limit per token: {limit}. docs/intake.md."
                ),
                "x-es": {
                    "summary": f"Enviar {what[1]}",
                    "description": (
                        f"Registra y guarda {what[1]} (token de alcance `{scope}`), todo o nada por "
                        f"solicitud; responde por cada registro su recibo: la entrada del registro de "
                        f"evidencias, su índice y hash, y la dirección de su prueba. "
                        f"Límite por token: {limit}."
                    ),
                },
                "security": [{"bearer": []}],
                "parameters": [],
                "requestBody": body,
                "responses": {
                    "200": _json(
                        receipts,
                        "Every record had arrived before: their receipts.",
                        "Todo había llegado: sus recibos.",
                    ),
                    "201": _json(
                        receipts, "Stored and logged: the receipts.", "Guardado y registrado: los recibos."
                    ),
                    "400": _error("The body is not JSON.", "El cuerpo no es JSON."),
                    "401": {
                        **_error(
                            "No bearer token, or not one of this portal.",
                            "Sin token, o no es de este portal.",
                        ),
                        "headers": challenge,
                    },
                    "403": _error(
                        "The token is revoked, expired or of another scope.",
                        "El token está revocado, vencido o es de otro alcance.",
                    ),
                    "409": _json(
                        problems,
                        "A record arrived before with other content; nothing stored.",
                        "Un registro llegó antes con otro contenido; nada se guardó.",
                    ),
                    "413": _error("The body is too large.", "El cuerpo es demasiado grande."),
                    "415": _error("Not JSON nor JSON Lines.", "No es JSON ni JSON Lines."),
                    "422": _json(
                        problems,
                        "Invalid records, each problem named; nothing stored.",
                        "Registros no válidos, cada problema nombrado; nada se guardó.",
                    ),
                    "429": _TOO_MANY,
                },
            }
        }

    return {
        "/api/intake/quotes": operation(
            "postQuotes", ("supplier quotes", "proformas de proveedores"), "quotes"
        ),
        "/api/intake/orders": operation("postOrders", ("catalogue orders", "órdenes de compra"), "orders"),
    }
