"""Deterministic synthetic catalogue orders for Peru, for demos, load tests and red-flag analysis.

``generate_orders(n, seed)`` streams ``n`` source-order lines (order states) that pass every
check of :func:`ocds.catalogue.source.check_order`. The same ``n`` and ``seed`` give
byte-identical output (one ``random.Random(seed)`` drives everything, dicts are built in a fixed
key order). Memory does not grow with ``n``: the population (agreements, buyers, suppliers) has a
fixed size, and follow-up versions wait in a queue whose length is capped.

What the stream contains:

* 13 catalogues (Útiles de escritorio, Computadoras de escritorio, Neumáticos, Emulsión asfáltica
  ...) in two editions each, i.e. 26 framework agreements, 2024-2026;
* about 2,000 buyer entities in all regions (municipalidades, hospitales, UGEL, universidades,
  gobiernos regionales, ministerios) with 11-digit RUCs starting with 20 and a valid check digit;
* about 2,000 suppliers of every size, chosen with Zipf-skewed shares, with lognormal quantities;
* every order shape (see :data:`ocds.catalogue.source.SHAPES`), 1-6 proformas per order;
* later versions of about a quarter of the orders (delivered, amended, cancelled), emitted
  later in the stream than the version they replace;
* planted anomalies, listed by :func:`planted_anomalies` (never marked inside the orders):
  ``split`` (several orders by the same buyer to the same supplier on nearby dates, each just
  under :data:`SPLIT_THRESHOLD`), ``overprice`` (a unit price 2.5-4x the catalogue median) and
  ``dominance`` (one supplier winning nearly every order of a buyer).

Names and places are Spanish/Peruvian but the entities are fictitious; any RUC that matches a real
one does so by chance.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from typing import Any

import orjson

from ocds.catalogue.source import FORMAT_VERSION, REGIONS

#: The planted "split purchase" threshold in PEN: 8 UIT of 2025 (UIT = S/ 5,350), the amount
#: under which Peruvian purchases escape most procurement rules and a classic splitting target.
SPLIT_THRESHOLD = 42_800.0

FIRST_DAY = date(2024, 1, 8)
LAST_ISSUE_DAY = date(2026, 8, 31)  # leaves room for deliveries and amendments within 2026
DOC_BASE = "https://catalogos.example.gob.pe"
PERU_COMPRAS = {"identifier": "20600000011", "name": "Central de Compras Públicas - Perú Compras"}

# (code, name, popularity weight, products, package)
# product = (productId suffix, UNSPSC code, UNSPSC description, description, unit code, unit name,
#            median unit price PEN, typical quantity)
# package = (name, product indexes) or None
CATALOGUES: list[tuple[str, str, float, list[tuple], tuple | None]] = [
    (
        "UE",
        "Útiles de escritorio",
        14,
        [
            (
                "00123",
                "44121706",
                "Lápices de madera",
                "Lápiz de grafito HB con borrador, caja x 12",
                "BX",
                "Caja",
                9.5,
                40,
            ),
            (
                "00124",
                "44121701",
                "Bolígrafos",
                "Bolígrafo punta fina azul, caja x 50",
                "BX",
                "Caja",
                27.0,
                20,
            ),
            (
                "00301",
                "44122011",
                "Folders",
                "Folder manila A4, paquete x 25",
                "PK",
                "Paquete",
                11.8,
                30,
            ),
            ("00410", "44122107", "Grapas", "Grapas 26/6, caja x 5000", "BX", "Caja", 4.2, 50),
            (
                "00512",
                "44121618",
                "Tijeras",
                "Tijera de oficina 8 pulgadas",
                "NIU",
                "Unidad",
                5.9,
                25,
            ),
        ],
        None,
    ),
    (
        "PB",
        "Papel bond",
        12,
        [
            (
                "10001",
                "14111507",
                "Papel para impresora o fotocopiadora",
                "Papel bond A4 75 g, paquete x 500 hojas",
                "PK",
                "Paquete",
                17.9,
                200,
            ),
            (
                "10002",
                "14111507",
                "Papel para impresora o fotocopiadora",
                "Papel bond A3 75 g, paquete x 500 hojas",
                "PK",
                "Paquete",
                36.5,
                40,
            ),
            (
                "10010",
                "14111514",
                "Blocs o cuadernos de papel",
                "Cuaderno cuadriculado A4, 100 hojas",
                "NIU",
                "Unidad",
                4.8,
                150,
            ),
        ],
        None,
    ),
    (
        "CD",
        "Computadoras de escritorio",
        6,
        [
            (
                "20021",
                "43211507",
                "Computadores de escritorio",
                "Computadora de escritorio Core i5, 16 GB RAM, 512 GB SSD",
                "NIU",
                "Unidad",
                2890.0,
                8,
            ),
            (
                "20310",
                "43211902",
                "Monitores de pantalla de cristal líquido LCD",
                "Monitor LED 23.8 pulgadas Full HD",
                "NIU",
                "Unidad",
                469.0,
                8,
            ),
            (
                "20377",
                "39121004",
                "Unidades de suministro de energía",
                "Estabilizador de tensión 1000 VA",
                "NIU",
                "Unidad",
                120.5,
                8,
            ),
            (
                "20410",
                "43211708",
                "Dispositivos de mouse o bola de seguimiento",
                "Teclado y mouse USB en español",
                "NIU",
                "Unidad",
                45.0,
                10,
            ),
        ],
        ("Paquete computadora de escritorio + monitor + estabilizador", (0, 1, 2)),
    ),
    (
        "CP",
        "Computadoras portátiles",
        5,
        [
            (
                "21003",
                "43211503",
                "Computadores notebook",
                "Laptop Core i7, 16 GB RAM, 1 TB SSD, 14 pulgadas",
                "NIU",
                "Unidad",
                4150.0,
                5,
            ),
            (
                "21010",
                "43211509",
                "Computadores tablet",
                "Tablet 10 pulgadas 128 GB",
                "NIU",
                "Unidad",
                1290.0,
                10,
            ),
            (
                "21055",
                "53121706",
                "Maletines para computador",
                "Mochila para laptop 15.6 pulgadas",
                "NIU",
                "Unidad",
                79.0,
                5,
            ),
        ],
        ("Paquete laptop + mochila", (0, 2)),
    ),
    (
        "PY",
        "Proyectores multimedia",
        2,
        [
            (
                "22001",
                "45111609",
                "Proyectores multimedia",
                "Proyector multimedia 4000 lúmenes WXGA",
                "NIU",
                "Unidad",
                2350.0,
                3,
            ),
            (
                "22005",
                "45111601",
                "Pantallas de proyección",
                "Ecran retráctil 100 pulgadas",
                "NIU",
                "Unidad",
                390.0,
                3,
            ),
        ],
        ("Paquete proyector + ecran", (0, 1)),
    ),
    (
        "IM",
        "Impresoras",
        4,
        [
            (
                "23001",
                "43212105",
                "Impresoras láser",
                "Impresora láser monocromática 40 ppm",
                "NIU",
                "Unidad",
                1180.0,
                3,
            ),
            (
                "23010",
                "43212110",
                "Impresoras multifuncionales",
                "Multifuncional láser color A4",
                "NIU",
                "Unidad",
                2650.0,
                2,
            ),
        ],
        None,
    ),
    (
        "CT",
        "Consumibles de impresión",
        7,
        [
            (
                "24001",
                "44103103",
                "Tóner para impresoras",
                "Tóner negro rendimiento 10 000 páginas",
                "NIU",
                "Unidad",
                385.0,
                12,
            ),
            (
                "24007",
                "44103105",
                "Cartuchos de tinta",
                "Cartucho de tinta color tricolor",
                "NIU",
                "Unidad",
                98.0,
                15,
            ),
        ],
        None,
    ),
    (
        "NE",
        "Neumáticos",
        5,
        [
            (
                "30001",
                "25172504",
                "Llantas para automóviles o camionetas",
                "Neumático 265/70 R16 para camioneta",
                "NIU",
                "Unidad",
                640.0,
                8,
            ),
            (
                "30008",
                "25172503",
                "Llantas para camiones pesados",
                "Neumático 11R22.5 para camión",
                "NIU",
                "Unidad",
                1390.0,
                12,
            ),
            (
                "30015",
                "25172505",
                "Llantas para motocicletas",
                "Neumático 2.75-18 para motocicleta",
                "NIU",
                "Unidad",
                115.0,
                10,
            ),
        ],
        None,
    ),
    (
        "LI",
        "Materiales e insumos de limpieza",
        13,
        [
            (
                "40002",
                "47131805",
                "Limpiadores de uso general",
                "Limpiador desinfectante multiuso, galón",
                "GLL",
                "Galón",
                14.5,
                60,
            ),
            (
                "40005",
                "14111704",
                "Papel higiénico",
                "Papel higiénico doble hoja, paquete x 24 rollos",
                "PK",
                "Paquete",
                28.9,
                80,
            ),
            (
                "40011",
                "47121701",
                "Bolsas de basura",
                "Bolsa de polietileno 140 L, paquete x 50",
                "PK",
                "Paquete",
                22.0,
                60,
            ),
            (
                "40020",
                "47131502",
                "Trapeadores",
                "Trapeador de algodón con mango",
                "NIU",
                "Unidad",
                12.5,
                40,
            ),
        ],
        None,
    ),
    (
        "EA",
        "Emulsión asfáltica",
        2,
        [
            (
                "50001",
                "30121601",
                "Asfalto",
                "Emulsión asfáltica catiónica de rotura lenta CSS-1h, cilindro 55 gal",
                "NIU",
                "Cilindro",
                790.0,
                60,
            ),
            (
                "50004",
                "30121601",
                "Asfalto",
                "Emulsión asfáltica catiónica de rotura rápida CRS-2, cilindro 55 gal",
                "NIU",
                "Cilindro",
                760.0,
                40,
            ),
        ],
        None,
    ),
    (
        "MO",
        "Mobiliario de oficina",
        4,
        [
            (
                "60001",
                "56101703",
                "Escritorios",
                "Escritorio de melamina 1.20 m con cajonera",
                "NIU",
                "Unidad",
                560.0,
                10,
            ),
            (
                "60006",
                "56112102",
                "Sillas giratorias de oficina",
                "Silla giratoria ergonómica con apoyabrazos",
                "NIU",
                "Unidad",
                420.0,
                12,
            ),
            (
                "60012",
                "56101708",
                "Archivadores",
                "Archivador metálico de 4 gavetas",
                "NIU",
                "Unidad",
                690.0,
                4,
            ),
        ],
        ("Paquete estación de trabajo: escritorio + silla", (0, 1)),
    ),
    (
        "AA",
        "Equipos de aire acondicionado",
        1,
        [
            (
                "70001",
                "40101701",
                "Acondicionadores de aire",
                "Aire acondicionado split 18 000 BTU inverter",
                "NIU",
                "Unidad",
                2480.0,
                4,
            ),
        ],
        None,
    ),
    (
        "CV",
        "Camionetas y vehículos",
        1,
        [
            (
                "80001",
                "25101503",
                "Carros",
                "Camioneta pick-up 4x4 doble cabina diésel",
                "NIU",
                "Unidad",
                158000.0,
                1,
            ),
            (
                "80004",
                "25101507",
                "Camiones ligeros o vehículos utilitarios deportivos",
                "Vehículo SUV 4x4 gasolina",
                "NIU",
                "Unidad",
                132000.0,
                1,
            ),
        ],
        None,
    ),
]

# Places by region code (provinces and districts), for buyer names and delivery addresses.
PLACES: dict[str, list[str]] = {
    "01": [
        "Chachapoyas",
        "Bagua",
        "Utcubamba",
        "Luya",
        "Rodríguez de Mendoza",
        "Condorcanqui",
        "Bongará",
    ],
    "02": [
        "Huaraz",
        "Chimbote",
        "Casma",
        "Huari",
        "Carhuaz",
        "Yungay",
        "Recuay",
        "Pomabamba",
        "Nuevo Chimbote",
    ],
    "03": ["Abancay", "Andahuaylas", "Chincheros", "Grau", "Aymaraes", "Cotabambas", "Antabamba"],
    "04": [
        "Arequipa",
        "Camaná",
        "Caylloma",
        "Islay",
        "Castilla",
        "Cayma",
        "Cerro Colorado",
        "Yanahuara",
        "Paucarpata",
    ],
    "05": ["Huamanga", "Huanta", "La Mar", "Lucanas", "Cangallo", "Parinacochas", "Vilcas Huamán"],
    "06": [
        "Cajamarca",
        "Jaén",
        "Chota",
        "Cutervo",
        "Celendín",
        "San Ignacio",
        "Cajabamba",
        "Hualgayoc",
    ],
    "07": [
        "Callao",
        "Bellavista",
        "Ventanilla",
        "La Perla",
        "Carmen de la Legua Reynoso",
        "La Punta",
    ],
    "08": [
        "Cusco",
        "Wanchaq",
        "San Sebastián",
        "Santiago",
        "Urubamba",
        "La Convención",
        "Canchis",
        "Quispicanchi",
        "Espinar",
    ],
    "09": ["Huancavelica", "Tayacaja", "Angaraes", "Acobamba", "Churcampa", "Castrovirreyna"],
    "10": [
        "Huánuco",
        "Leoncio Prado",
        "Amarilis",
        "Ambo",
        "Dos de Mayo",
        "Pachitea",
        "Puerto Inca",
    ],
    "11": ["Ica", "Chincha", "Pisco", "Nasca", "Palpa", "Parcona", "La Tinguiña"],
    "12": [
        "Huancayo",
        "El Tambo",
        "Chilca",
        "Tarma",
        "Jauja",
        "Satipo",
        "Chanchamayo",
        "La Oroya",
        "Concepción",
    ],
    "13": [
        "Trujillo",
        "La Esperanza",
        "El Porvenir",
        "Víctor Larco Herrera",
        "Pacasmayo",
        "Chepén",
        "Otuzco",
        "Sánchez Carrión",
        "Ascope",
    ],
    "14": [
        "Chiclayo",
        "Lambayeque",
        "Ferreñafe",
        "José Leonardo Ortiz",
        "La Victoria",
        "Pimentel",
        "Mórrope",
    ],
    "15": [
        "Huaral",
        "Huacho",
        "Barranca",
        "Cañete",
        "Huarochirí",
        "Canta",
        "Yauyos",
        "Oyón",
        "Cajatambo",
    ],
    "1501": [
        "Cercado de Lima",
        "San Juan de Lurigancho",
        "Comas",
        "Ate",
        "Villa El Salvador",
        "San Martín de Porres",
        "Miraflores",
        "Surquillo",
        "La Molina",
        "Independencia",
        "Carabayllo",
        "Chorrillos",
    ],
    "16": [
        "Maynas",
        "Iquitos",
        "Alto Amazonas",
        "Requena",
        "Ucayali",
        "Loreto",
        "Mariscal Ramón Castilla",
    ],
    "17": ["Tambopata", "Manu", "Tahuamanu", "Inambari", "Laberinto"],
    "18": ["Mariscal Nieto", "Ilo", "General Sánchez Cerro", "Moquegua", "El Algarrobal"],
    "19": ["Pasco", "Oxapampa", "Daniel Alcides Carrión", "Yanacancha", "Chaupimarca"],
    "20": [
        "Piura",
        "Sullana",
        "Paita",
        "Talara",
        "Morropón",
        "Ayabaca",
        "Huancabamba",
        "Sechura",
        "Castilla",
        "Veintiséis de Octubre",
    ],
    "21": [
        "Puno",
        "Juliaca",
        "Azángaro",
        "Chucuito",
        "Melgar",
        "El Collao",
        "Huancané",
        "Lampa",
        "Yunguyo",
    ],
    "22": [
        "Moyobamba",
        "Tarapoto",
        "Rioja",
        "Tocache",
        "Bellavista",
        "Lamas",
        "Mariscal Cáceres",
        "Picota",
    ],
    "23": [
        "Tacna",
        "Gregorio Albarracín",
        "Alto de la Alianza",
        "Ciudad Nueva",
        "Tarata",
        "Candarave",
    ],
    "24": ["Tumbes", "Zarumilla", "Contralmirante Villar", "Corrales", "La Cruz"],
    "25": [
        "Coronel Portillo",
        "Callería",
        "Yarinacocha",
        "Manantay",
        "Padre Abad",
        "Atalaya",
        "Purús",
    ],
}

MINISTRIES = [
    "Ministerio de Salud",
    "Ministerio de Educación",
    "Ministerio del Interior",
    "Ministerio de Defensa",
    "Ministerio de Economía y Finanzas",
    "Ministerio de Transportes y Comunicaciones",
    "Ministerio de Desarrollo Agrario y Riego",
    "Ministerio de la Mujer y Poblaciones Vulnerables",
    "Ministerio de Vivienda, Construcción y Saneamiento",
    "Ministerio de Trabajo y Promoción del Empleo",
    "Ministerio de Justicia y Derechos Humanos",
    "Ministerio de Cultura",
    "Ministerio del Ambiente",
    "Ministerio de Energía y Minas",
    "Ministerio de la Producción",
    "Ministerio de Relaciones Exteriores",
    "Ministerio de Desarrollo e Inclusión Social",
    "Seguro Social de Salud - EsSalud",
    "Superintendencia Nacional de Aduanas y de Administración Tributaria",
    "Registro Nacional de Identificación y Estado Civil",
    "Poder Judicial",
    "Ministerio Público - Fiscalía de la Nación",
    "Instituto Nacional Penitenciario",
    "Policía Nacional del Perú",
    "Programa Nacional de Alimentación Escolar Qali Warma",
]

BUYER_KINDS = [
    ("Municipalidad Distrital de {p}", 6.0),
    ("Municipalidad Provincial de {p}", 3.0),
    ("Unidad de Gestión Educativa Local {p}", 2.0),
    ("Hospital de Apoyo {p}", 2.0),
    ("Red de Salud {p}", 1.5),
    ("Instituto de Educación Superior Tecnológico Público {p}", 0.8),
    ("Subprefectura de {p}", 0.3),
    ("Comisaría de {p}", 0.4),
]
REGION_BUYER_KINDS = [
    "Gobierno Regional de {r}",
    "Dirección Regional de Salud {r}",
    "Dirección Regional de Educación {r}",
    "Hospital Regional de {r}",
    "Universidad Nacional de {r}",
    "Corte Superior de Justicia de {r}",
]

SUPPLIER_HEADS = [
    "Corporación",
    "Inversiones",
    "Distribuidora",
    "Comercial",
    "Grupo",
    "Negociaciones",
    "Importaciones",
    "Servicios Generales",
    "Representaciones",
    "Industrias",
    "Suministros",
    "Tecnología",
    "Multiservicios",
]
SUPPLIER_CORES = [
    "Andina",
    "del Sur",
    "Los Andes",
    "Pacífico",
    "Inca",
    "Amazónica",
    "Chavín",
    "Mochica",
    "Santa Rosa",
    "Huascarán",
    "Misti",
    "Titicaca",
    "Tawantinsuyo",
    "Wari",
    "Nazca",
    "Paracas",
    "Chimú",
    "Sipán",
    "Kuélap",
    "Quispe",
    "Mamani",
    "Huamán",
    "Flores",
    "Rojas",
    "García",
    "Torres",
    "Ramírez",
    "Chávez",
    "Vargas",
    "Castillo",
    "Mendoza",
    "Salazar",
    "Del Norte",
    "Oriente",
    "Sol Naciente",
    "Rímac",
    "Vilcanota",
    "Marañón",
    "Mantaro",
    "Apurímac",
    "Urubamba",
    "Cóndor",
    "Vicuña",
    "Qhapaq Ñan",
]
SUPPLIER_FORMS = {
    "micro": ["E.I.R.L.", "S.R.L."],
    "small": ["S.A.C.", "S.R.L."],
    "medium": ["S.A.C.", "S.A."],
    "large": ["S.A.", "S.A.A."],
}
STREETS = [
    "Av. Grau",
    "Jr. Lima",
    "Av. Bolognesi",
    "Jr. Junín",
    "Av. Túpac Amaru",
    "Calle Real",
    "Jr. Ayacucho",
    "Av. Los Incas",
    "Jr. Bolívar",
    "Av. Leguía",
    "Jr. San Martín",
    "Av. Sánchez Cerro",
    "Plaza de Armas",
]
CANCEL_REASONS = [
    "Desistimiento de la entidad por recorte presupuestal.",
    "Incumplimiento del proveedor en el plazo de entrega.",
    "Error en la emisión de la orden de compra.",
    "El proveedor no aceptó la orden de compra dentro del plazo.",
]
AMEND_REASONS = [
    "Ampliación del plazo de entrega a solicitud del proveedor por desabastecimiento.",
    "Ampliación del plazo de entrega por bloqueo de vías.",
    "Reprogramación de la entrega a solicitud de la entidad.",
]


@dataclass(frozen=True)
class PlantedAnomaly:
    """One anomaly deliberately planted in a generated stream (ground truth for red-flag tests)."""

    kind: str  # "split", "overprice" or "dominance"
    buyer: str  # buyer RUC
    supplier: str  # supplier RUC
    orderNumbers: tuple[str, ...]  # noqa: N815 (named like the source format's field)
    detail: str


def _ruc(rng: random.Random, prefix: str = "20") -> str:
    """An 11-digit RUC with a valid SUNAT check digit (modulus 11, weights 5432765432)."""
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(8))
    total = sum(int(d) * w for d, w in zip(body, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True))
    check = 11 - total % 11
    return body + str(check % 10 if check < 11 else 1)


def _fake_sha256(*parts: object) -> str:
    # Stands in for the hash of a real PDF: deterministic and well-formed.
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


class _Population:
    """The fixed cast (agreements, buyers, suppliers), drawn once from the seed."""

    def __init__(self, rng: random.Random) -> None:
        used: set[str] = {PERU_COMPRAS["identifier"]}

        def new_ruc() -> str:
            while True:
                ruc = _ruc(rng)
                if ruc not in used:
                    used.add(ruc)
                    return ruc

        # Buyers: every (kind, place) plus regional and national bodies, ~2,000 in all.
        buyers: list[list[Any]] = []  # [name, region, weight, places]
        for code, places in PLACES.items():
            region = {"code": code, "name": REGIONS[code]}
            for place in places:
                for template, weight in BUYER_KINDS:
                    buyers.append([template.format(p=place), region, weight, places])
            for template in REGION_BUYER_KINDS:
                buyers.append([template.format(r=REGIONS[code]), region, 4.0, places])
        lima = {"code": "1501", "name": REGIONS["1501"]}
        for name in MINISTRIES:
            buyers.append([name, lima, 10.0, PLACES["1501"]])
        rng.shuffle(buyers)
        self.buyers = [
            ({"identifier": new_ruc(), "name": name, "region": region}, places)
            for name, region, _, places in buyers
        ]
        # Lognormal activity per buyer: a few buy a lot, most buy a little.
        weights = [w * rng.lognormvariate(0, 1.0) for _, _, w, _ in buyers]
        self.buyer_cum = list(accumulate(weights))

        # Suppliers: ~2,000 of all sizes, each in one or two catalogues.
        sizes = rng.choices(["micro", "small", "medium", "large"], weights=[45, 35, 13, 7], k=2100)
        names: set[str] = set()
        self.suppliers = []
        for size in sizes:
            while True:
                head, core = rng.choice(SUPPLIER_HEADS), rng.choice(SUPPLIER_CORES)
                name = f"{head} {core} {rng.choice(SUPPLIER_FORMS[size])}"
                if name not in names:
                    break
                extra = rng.choice(SUPPLIER_CORES)
                name = f"{head} {core} {extra} {rng.choice(SUPPLIER_FORMS[size])}"
                if name not in names:
                    break
            names.add(name)
            self.suppliers.append({"identifier": new_ruc(), "name": name, "size": size})
        per_catalogue: list[list[dict]] = [[] for _ in CATALOGUES]
        for s in self.suppliers:
            for c in rng.sample(range(len(CATALOGUES)), rng.choice((1, 1, 2))):
                per_catalogue[c].append(s)

        # Two editions per catalogue; the second keeps most suppliers of the first.
        self.agreements: list[list[dict]] = []  # [catalogue][edition]
        self.supplier_cum: list[list[list[float]]] = []
        editions = [(2024, "2024-01-01", "2025-06-30"), (2025, "2025-01-01", "2026-12-31")]
        for c, (code, name, _, _, _) in enumerate(CATALOGUES):
            pool = per_catalogue[c]
            rng.shuffle(pool)
            first = pool[: max(6, min(45, int(len(pool) * 0.4)))]
            rest = pool[len(first) :]
            second = [s for s in first if rng.random() < 0.7] + rest[: max(3, len(first) // 2)]
            entries, cums = [], []
            for (year, start, end), members in zip(editions, (first, second), strict=True):
                number = 3 + c * 2 + (year - 2024)
                entries.append(
                    {
                        "id": f"EXT-CE-{year}-{number}",
                        "title": f"Acuerdo Marco de {name}",
                        "catalogue": {"id": f"CE-{year}-{number}-{code}", "name": name},
                        "period": {"startDate": start, "endDate": end},
                        "method": "withAndWithoutReopeningCompetition",
                        "procuringEntity": PERU_COMPRAS,
                        "suppliers": members,
                    }
                )
                # Zipf shares: the k-th supplier wins ~1/k^1.1 as often as the first.
                cums.append(list(accumulate(1 / (k + 1) ** 1.1 for k in range(len(members)))))
            self.agreements.append(entries)
            self.supplier_cum.append(cums)
        self.catalogue_cum = list(accumulate(c[2] for c in CATALOGUES))

        # Dominance: three buyers each captured by one supplier of one catalogue (present in
        # both editions so that the capture holds for the whole period).
        self.captured: dict[str, tuple[int, dict]] = {}
        for k in range(3):
            c = (3 * k + 1) % len(CATALOGUES)
            both = [s for s in self.agreements[c][0]["suppliers"] if s in self.agreements[c][1]["suppliers"]]
            supplier = both[len(both) // 2]
            buyer = self.buyers[k][0]
            self.captured[buyer["identifier"]] = (c, supplier)
        # Captured buyers must buy often enough to show the pattern even in short streams.
        bump = self.buyer_cum[-1] * 0.004
        self.buyer_cum = [w + bump * min(i + 1, 3) for i, w in enumerate(self.buyer_cum)]


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """Split a positive integer into ``parts`` positive integers (parts <= total)."""
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


class _Generator:
    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.pop = _Population(self.rng)
        self.span = (LAST_ISSUE_DAY - FIRST_DAY).days
        self.serial = {2024: 0, 2025: 0, 2026: 0}
        # Follow-up versions: heap of (emit at line, tie-breaker, order, anomaly). Delays are
        # capped in lines, not days, so the heap stays small whatever n is.
        self.pending: list[tuple[int, int, dict, tuple | None]] = []
        self.burst: deque[tuple[dict, tuple | None]] = deque()
        self.tiebreak = 0
        self.split_period = min(max(n // 3, 100), 10_007)
        self.overprice_period = min(max(n // 5, 50), 5_003)

    # ------------------------------------------------------------------ building blocks

    def day_for(self, i: int) -> date:
        # Roughly chronological stream: line i falls at fraction i/n of the period.
        jitter = self.rng.randint(-3, 3)
        offset = min(max(i * self.span // max(self.n, 1) + jitter, 0), self.span)
        return FIRST_DAY + timedelta(days=offset)

    def stamp(self, day: date) -> str:
        return f"{day.isoformat()}T{self.rng.randint(8, 17):02d}:{self.rng.randrange(60):02d}:00-05:00"

    def agreement_for(self, c: int, day: date) -> dict:
        first, second = self.pop.agreements[c]
        if day < date(2025, 1, 1):
            return first
        if day > date(2025, 6, 30):
            return second
        return first if self.rng.random() < 0.5 else second

    def pick_supplier(self, c: int, agreement: dict) -> dict:
        edition = 0 if agreement is self.pop.agreements[c][0] else 1
        return self.rng.choices(agreement["suppliers"], cum_weights=self.pop.supplier_cum[c][edition])[0]

    def address(self, places: list[str], region: dict) -> dict:
        return {
            "street": f"{self.rng.choice(STREETS)} {self.rng.randint(1, 1999)}",
            "district": self.rng.choice(places),
            "region": region,
        }

    def order_number(self, day: date) -> str:
        self.serial[day.year] += 1
        return f"OC-{day.year}-{self.serial[day.year]:06d}"

    # ------------------------------------------------------------------ one order

    def new_order(
        self,
        i: int,
        *,
        buyer_entry=None,
        c=None,
        supplier=None,
        day=None,
        shape=None,
        price_factor=1.0,
        max_total=None,
        agreement=None,
    ) -> dict:
        rng = self.rng
        if buyer_entry is None:
            buyer_entry = rng.choices(self.pop.buyers, cum_weights=self.pop.buyer_cum)[0]
        buyer, places = buyer_entry
        captured = self.pop.captured.get(buyer["identifier"])
        if c is None:
            if captured and rng.random() < 0.9:
                c = captured[0]
            else:
                c = rng.choices(range(len(CATALOGUES)), cum_weights=self.pop.catalogue_cum)[0]
        day = day or self.day_for(i)
        agreement = agreement or self.agreement_for(c, day)
        if supplier is None:
            if captured and c == captured[0] and rng.random() < 0.95:
                supplier = captured[1]
            else:
                supplier = self.pick_supplier(c, agreement)
        code, _, _, products, package = CATALOGUES[c]
        if shape is None:
            shape = rng.choices(
                ["single", "package", "partial", "multiDestination", "multiDestinationPartial"],
                weights=[50, 8 if package else 0, 15, 15, 12],
            )[0]

        # Items.
        if shape == "package":
            chosen = list(package[1])
            packs = max(1, int(rng.lognormvariate(1.2, 0.8)))
        else:
            chosen = sorted(rng.sample(range(len(products)), rng.randint(1, min(3, len(products)))))
        items = []
        for line, p in enumerate(chosen, start=1):
            pid, unspsc, unspsc_name, desc, unit, unit_name, median, typical = products[p]
            qty = packs if shape == "package" else max(1, int(typical * rng.lognormvariate(0, 0.9)))
            price = round(median * rng.lognormvariate(0, 0.08) * price_factor, 2)
            items.append(
                {
                    "line": line,
                    "productId": f"{code}-{pid}",
                    "classification": {"code": unspsc, "description": unspsc_name},
                    "description": desc,
                    "unit": {"code": unit, "name": unit_name},
                    "quantity": qty,
                    "unitPrice": price,
                    "currency": "PEN",
                }
            )
        if max_total is not None:
            # Scale quantities down until the order stays under max_total (split anomalies).
            for item in items:
                item["quantity"] = 1
            unit_total = sum(it["unitPrice"] for it in items)
            items[0]["quantity"] = max(
                1, int((max_total - (unit_total - items[0]["unitPrice"])) // items[0]["unitPrice"])
            )

        # Destinations and deliveries.
        ndest = 1 if shape in ("single", "package", "partial") else rng.randint(2, 4)
        dests: list[list[Any]] = []  # [number, address, deliveries]
        first_due = day + timedelta(days=rng.randint(3, 15))
        for d in range(ndest):
            region = buyer["region"]
            dest_places = places
            if ndest > 1 and buyer["region"]["code"] == "1501" and d > 0 and rng.random() < 0.6:
                code_r = rng.choice(list(PLACES))
                region, dest_places = {"code": code_r, "name": REGIONS[code_r]}, PLACES[code_r]
            ndeliv = 1
            if shape == "partial" or (shape == "multiDestinationPartial" and (d == 0 or rng.random() < 0.5)):
                ndeliv = rng.randint(2, 3)
            dests.append([d + 1, self.address(dest_places, region), ndeliv])
        # Distribute each line's quantity over destinations, then over that destination's
        # deliveries; a destination or delivery that would get nothing is dropped below.
        plan: dict[tuple[int, int], list[dict]] = {}
        for item in items:
            q = item["quantity"]
            shares = _split(q, min(ndest, q), rng) + [0] * (ndest - min(ndest, q))
            for (dn, _, ndeliv), share in zip(dests, shares, strict=True):
                if share == 0:
                    continue
                parts = _split(share, min(ndeliv, share), rng)
                for k, part in enumerate(parts, start=1):
                    plan.setdefault((dn, k), []).append({"line": item["line"], "quantity": part})
        destinations: list[dict[str, Any]] = []
        for dn, address, ndeliv in dests:
            deliveries: list[dict[str, Any]] = []
            due = first_due + timedelta(days=rng.randint(0, 3))
            for k in range(1, ndeliv + 1):
                if (dn, k) in plan:
                    deliveries.append(
                        {
                            "number": len(deliveries) + 1,
                            "dueDate": due.isoformat(),
                            "lines": plan[(dn, k)],
                        }
                    )
                due += timedelta(days=rng.randint(10, 25))
            if deliveries:
                destinations.append(
                    {
                        "number": len(destinations) + 1,
                        "name": f"Almacén {address['district']}"
                        if dn == 1
                        else f"Sede {address['district']}",
                        "address": address,
                        "deliveries": deliveries,
                    }
                )

        number = self.order_number(day)
        issued = self.stamp(day)
        order = {
            "formatVersion": FORMAT_VERSION,
            "orderNumber": number,
            "version": 1,
            "status": "issued",
            "dates": {"issued": issued},
            "agreement": agreement,
            "buyer": buyer,
            "supplier": supplier,
        }
        if shape == "package":
            order["package"] = {
                "id": f"PAQ-{code}-{package[1][0] + 1:02d}",
                "name": package[0],
                "quantity": packs,
            }
        order["items"] = items
        order["destinations"] = destinations
        order["proformas"] = self.proformas(order, agreement, supplier, day)
        order["documents"] = [self.document(number, 1, "purchaseOrder", f"Orden de compra {number}")]
        if rng.random() < 0.75:
            accepted = day + timedelta(days=rng.randint(0, 2))
            order["status"] = "accepted"
            order["dates"]["accepted"] = max(issued, self.stamp(accepted))
        return order

    def proformas(self, order: dict, agreement: dict, supplier: dict, day: date) -> list[dict]:
        rng = self.rng
        others = [s for s in agreement["suppliers"] if s is not supplier]
        count = min(len(others), rng.choices([0, 1, 2, 3, 4, 5], weights=[30, 25, 20, 12, 8, 5])[0])
        quoters = [supplier, *rng.sample(others, count)]
        out = []
        for k, who in enumerate(quoters, start=1):
            factor = 1.0 if who is supplier else 1.0 + rng.uniform(0.02, 0.25)
            lines = [
                {"line": it["line"], "unitPrice": round(it["unitPrice"] * factor, 2)} for it in order["items"]
            ]
            total = round(
                sum(li["unitPrice"] * it["quantity"] for li, it in zip(lines, order["items"], strict=True)),
                2,
            )
            when = day - timedelta(days=rng.randint(1, 5))
            out.append(
                {
                    "id": f"PF-{order['orderNumber'][3:]}-{k}",
                    "supplier": who,
                    "date": self.stamp(when),
                    "currency": "PEN",
                    "lines": lines,
                    "total": total,
                }
            )
        rng.shuffle(out)
        return out

    def document(self, number: str, version: int, kind: str, title: str) -> dict:
        return {
            "id": f"{number}-{kind}-{version}",
            "type": kind,
            "title": title,
            "url": f"{DOC_BASE}/documentos/{number}/{kind}-{version}.pdf",
            "sha256": _fake_sha256(number, version, kind),
        }

    # ------------------------------------------------------------------ later versions

    def follow_up(self, order: dict, i: int) -> None:
        """Maybe schedule a later version of ``order``, emitted later in the stream."""
        rng = self.rng
        roll = rng.random()
        if order["status"] == "issued" and roll < 0.10 or order["status"] != "issued" and roll < 0.03:
            kind = "cancel"
        elif order["status"] == "accepted" and roll < 0.18:
            kind = "deliver"
        elif order["status"] == "accepted" and roll < 0.24 and order["version"] == 1:
            kind = "amend"
        else:
            return
        later = self.revise(order, kind)
        self.tiebreak += 1
        heapq.heappush(self.pending, (i + rng.randint(1, 2000), self.tiebreak, later, None))

    def revise(self, order: dict, kind: str) -> dict:
        """The next version: a new dict sharing untouched parts with the previous one."""
        rng = self.rng
        new = dict(order, version=order["version"] + 1, dates=dict(order["dates"]))
        issued_day = date.fromisoformat(order["dates"]["issued"][:10])
        last_event = max(order["dates"].values())[:10]
        number = order["orderNumber"]
        if kind == "cancel":
            when = date.fromisoformat(last_event) + timedelta(days=rng.randint(1, 20))
            new["status"] = "cancelled"
            new["cancellation"] = {"date": self.stamp(when), "reason": rng.choice(CANCEL_REASONS)}
            new["documents"] = [
                *order["documents"],
                self.document(
                    number,
                    new["version"],
                    "cancellationNotice",
                    f"Resolución de anulación de {number}",
                ),
            ]
        elif kind == "amend":
            dest = rng.randrange(len(order["destinations"]))
            destinations = [dict(d) for d in order["destinations"]]
            deliveries = [dict(k) for k in destinations[dest]["deliveries"]]
            last = deliveries[-1]
            old_due = date.fromisoformat(last["dueDate"])
            last["dueDate"] = (old_due + timedelta(days=rng.randint(5, 20))).isoformat()
            destinations[dest]["deliveries"] = deliveries
            new["destinations"] = destinations
            when = date.fromisoformat(last_event) + timedelta(days=rng.randint(1, 4))
            new["amendments"] = [
                *order.get("amendments", []),
                {
                    "id": f"AD-{len(order.get('amendments', [])) + 1}",
                    "version": new["version"],
                    "date": self.stamp(when),
                    "rationale": rng.choice(AMEND_REASONS),
                    "changes": [
                        {
                            "field": f"destinations/{dest}/deliveries/{len(deliveries) - 1}/dueDate",
                            "previous": old_due.isoformat(),
                            "new": last["dueDate"],
                        }
                    ],
                },
            ]
            new["documents"] = [
                *order["documents"],
                self.document(number, new["version"], "amendment", f"Adenda de {number}"),
            ]
        else:  # deliver
            destinations = []
            latest = issued_day
            for dest in order["destinations"]:
                deliveries = []
                for k in dest["deliveries"]:
                    due = date.fromisoformat(k["dueDate"])
                    done = max(issued_day, due - timedelta(days=rng.randint(0, 3)))
                    latest = max(latest, done)
                    deliveries.append(dict(k, deliveredDate=done.isoformat()))
                destinations.append(dict(dest, deliveries=deliveries))
            new["destinations"] = destinations
            new["status"] = "delivered"
            # Delivered after every earlier event, so that delivery is this version's event.
            earlier = [
                order["dates"]["accepted"],
                *(a["date"] for a in order.get("amendments", ())),
            ]
            new["dates"]["delivered"] = max(f"{latest.isoformat()}T18:00:00-05:00", *earlier)
            new["documents"] = [
                *order["documents"],
                self.document(number, new["version"], "deliveryReceipt", f"Acta de conformidad de {number}"),
            ]
        return new

    # ------------------------------------------------------------------ anomalies

    def plant_split(self, i: int) -> None:
        rng = self.rng
        buyer_entry = rng.choices(self.pop.buyers, cum_weights=self.pop.buyer_cum)[0]
        c = rng.choice([0, 1, 8])  # útiles, papel, limpieza: cheap goods, easy to split
        day = self.day_for(i)
        agreement = self.agreement_for(c, day)
        supplier = self.pick_supplier(c, agreement)
        last_day = min(date.fromisoformat(agreement["period"]["endDate"]), LAST_ISSUE_DAY)
        orders = []
        for k in range(rng.randint(3, 4)):
            cap = SPLIT_THRESHOLD * rng.uniform(0.93, 0.99)
            orders.append(
                self.new_order(
                    i,
                    buyer_entry=buyer_entry,
                    c=c,
                    supplier=supplier,
                    day=min(day + timedelta(days=k * rng.randint(0, 2)), last_day),
                    shape="single",
                    max_total=cap,
                    agreement=agreement,
                )
            )
        tag = (
            "split",
            buyer_entry[0]["identifier"],
            supplier["identifier"],
            f"{len(orders)} orders each under {SPLIT_THRESHOLD:.0f} PEN within a few days"
            f" (planted at line {i + 1})",
        )
        self.burst.extend((o, tag) for o in orders)

    def plant_overprice(self, i: int) -> None:
        factor = self.rng.uniform(2.5, 4.0)
        order = self.new_order(i, shape="single", price_factor=factor)
        tag = (
            "overprice",
            order["buyer"]["identifier"],
            order["supplier"]["identifier"],
            f"unit prices about {factor:.1f}x the catalogue median (planted at line {i + 1})",
        )
        self.burst.append((order, tag))

    # ------------------------------------------------------------------ the stream

    def stream(self) -> Iterator[tuple[dict, tuple | None]]:
        for i in range(self.n):
            remaining = self.n - i
            if self.pending and (self.pending[0][0] <= i or remaining <= len(self.pending)):
                _, _, order, tag = heapq.heappop(self.pending)
                if order["version"] == 2 and order["status"] == "accepted" and self.rng.random() < 0.5:
                    self.follow_up(order, i)  # an amended order may later be delivered
            elif self.burst:
                order, tag = self.burst.popleft()
            elif i % self.split_period == self.split_period // 2 and remaining > 8:
                self.plant_split(i)
                order, tag = self.burst.popleft()
            elif i % self.overprice_period == self.overprice_period // 3:
                self.plant_overprice(i)
                order, tag = self.burst.popleft()
            else:
                order = self.new_order(i)
                tag = None
                captured = self.pop.captured.get(order["buyer"]["identifier"])
                if captured and order["supplier"] is captured[1]:
                    tag = (
                        "dominance",
                        order["buyer"]["identifier"],
                        captured[1]["identifier"],
                        "one supplier wins nearly every order of this buyer",
                    )
            if order["version"] == 1 and remaining - 1 > len(self.pending):
                self.follow_up(order, i)
            yield order, tag


def generate_orders(n: int, seed: int) -> Iterator[dict]:
    """Stream ``n`` synthetic source-order lines (order states), deterministically from ``seed``."""
    for order, _ in _Generator(n, seed).stream():
        yield order


def planted_anomalies(n: int, seed: int) -> list[PlantedAnomaly]:
    """The anomalies planted in ``generate_orders(n, seed)``, in a deterministic order.

    Regenerates the stream (time O(n)); memory grows only with the number of planted orders.
    ``split`` and ``overprice`` entries list their orders; one ``dominance`` entry per captured
    buyer lists every first version of an order it gave to its captor.
    """
    found: dict[tuple, list[str]] = {}
    for order, tag in _Generator(n, seed).stream():
        if tag is None or order["version"] != 1:
            continue
        found.setdefault(tag, []).append(order["orderNumber"])
    out = [
        PlantedAnomaly(kind, buyer, supplier, tuple(numbers), detail)
        for (kind, buyer, supplier, detail), numbers in found.items()
    ]
    return sorted(out, key=lambda a: (a.kind, a.orderNumbers[0]))


def write_orders(path: str | os.PathLike, n: int, seed: int) -> int:
    """Write ``generate_orders(n, seed)`` to ``path`` as JSON Lines (orjson); return ``n``."""
    count = 0
    with open(path, "wb") as f:
        for order in generate_orders(n, seed):
            f.write(orjson.dumps(order))
            f.write(b"\n")
            count += 1
    return count
