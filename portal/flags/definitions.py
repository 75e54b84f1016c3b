"""What each red flag is: its words for readers (es/en), its method, thresholds and source.

A flag is a reason to look, never proof of wrongdoing: every explanation says both what the
flag means and what it does not mean. Thresholds are settings (``portal/settings.py``, named in
``Flag.settings``), read through :func:`thresholds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portal.settings import default


@dataclass(frozen=True)
class Flag:
    """One red flag. ``subject`` is what it marks: ``order``, ``buyer``, ``supplier``, ``pair``
    (a buyer and one of its suppliers) or ``agreement`` (a catalogue's framework agreement)."""

    code: str
    subject: str
    title_es: str
    title_en: str
    means_es: str
    means_en: str
    not_means_es: str
    not_means_en: str
    method_es: str
    method_en: str
    settings: tuple[str, ...]
    source: str

    def text(self, locale: str) -> dict[str, str]:
        """Title, meaning, caveat and method in ``locale`` (Spanish unless it is English)."""
        en = locale.startswith("en")
        return {
            "title": self.title_en if en else self.title_es,
            "means": self.means_en if en else self.means_es,
            "not_means": self.not_means_en if en else self.not_means_es,
            "method": self.method_en if en else self.method_es,
        }

    def as_json(self) -> dict[str, Any]:
        """The definition as JSON (both languages)."""
        return {
            "code": self.code,
            "subject": self.subject,
            "title": {"es": self.title_es, "en": self.title_en},
            "means": {"es": self.means_es, "en": self.means_en},
            "doesNotMean": {"es": self.not_means_es, "en": self.not_means_en},
            "method": {"es": self.method_es, "en": self.method_en},
            "settings": list(self.settings),
            "source": self.source,
        }


#: The flags' settings, declared (default, meaning and source) in ``portal/settings.py``.
FLAG_SETTINGS: tuple[str, ...] = (
    "FLAG_SPLIT_THRESHOLD",
    "FLAG_SPLIT_CURRENCY",
    "FLAG_SPLIT_WINDOW_DAYS",
    "FLAG_SPLIT_NEAR",
    "FLAG_IQR_FACTOR",
    "FLAG_PRICE_MIN_LINES",
    "FLAG_MIN_BUYER_ORDERS",
    "FLAG_SHARE_THRESHOLD",
    "FLAG_HHI_THRESHOLD",
    "FLAG_CATALOGUE_MIN_ORDERS",
    "FLAG_ONE_SUPPLIER_SHARE",
    "FLAG_AMENDMENT_RAISE",
    "FLAG_NEW_SUPPLIER_DAYS",
    "FLAG_LARGE_QUANTILE",
    "FLAG_YEAR_END_DAYS",
    "FLAG_YEAR_END_SHARE",
    "FLAG_LATE_DAYS",
)


def thresholds(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The flags' settings from ``config`` (an app's config), else their defaults, each of its
    default's type (an environment variable gives a string)."""
    out: dict[str, Any] = {}
    for name in FLAG_SETTINGS:
        fallback = default(name)
        value = (config or {}).get(name, fallback)
        kind = type(fallback)
        try:
            out[name] = str(value) if kind is str else kind(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"setting {name} must be a {kind.__name__}, not {value!r}") from error
    return out


FLAGS: tuple[Flag, ...] = (
    Flag(
        "split",
        "order",
        "Compra fraccionada",
        "Split purchase",
        "Varias órdenes de una misma entidad al mismo proveedor, en pocos días, cada una justo por "
        "debajo del monto a partir del cual se exigen más controles, y que juntas lo superan. Es "
        "la forma más conocida de evitar un procedimiento más exigente.",
        "Several orders by one buyer to the same supplier within a few days, each just under the "
        "amount above which more controls apply, that together exceed it. It is the best-known "
        "way of avoiding a stricter procedure.",
        "No prueba que se haya fraccionado a propósito: una entidad puede necesitar entregas en "
        "fechas cercanas, o recibir su presupuesto por partes.",
        "It does not prove the purchase was split on purpose: a buyer may need deliveries on "
        "nearby dates, or receive its budget in parts.",
        "Órdenes en FLAG_SPLIT_CURRENCY de cada par entidad-proveedor (también las anuladas: "
        "emitirlas ya es el patrón), cada una "
        "entre FLAG_SPLIT_NEAR × FLAG_SPLIT_THRESHOLD y el umbral; se marca todo grupo de dos o "
        "más cuyas fechas caben en FLAG_SPLIT_WINDOW_DAYS días y cuya suma supera el umbral.",
        "Orders in FLAG_SPLIT_CURRENCY of each buyer-supplier pair (cancelled ones too: issuing "
        "them is the pattern), each between "
        "FLAG_SPLIT_NEAR × FLAG_SPLIT_THRESHOLD and the threshold; every group of two or more "
        "whose dates fit in FLAG_SPLIT_WINDOW_DAYS days and whose sum exceeds the threshold is "
        "flagged.",
        ("FLAG_SPLIT_THRESHOLD", "FLAG_SPLIT_CURRENCY", "FLAG_SPLIT_WINDOW_DAYS", "FLAG_SPLIT_NEAR"),
        "OCP red-flags guide R002, R011; Prozorro risk rule sas24-3-14-1",
    ),
    Flag(
        "overprice",
        "order",
        "Precio unitario muy alto",
        "Unit price far above others",
        "Una línea de la orden tiene un precio unitario muy por encima del que pagan las demás "
        "órdenes por el mismo producto del mismo catálogo, en la misma unidad.",
        "A line of the order has a unit price far above what other orders pay for the same "
        "product of the same catalogue, in the same unit.",
        "No prueba un sobreprecio: el precio puede incluir transporte a un lugar remoto, una "
        "entrega urgente o una cantidad muy pequeña.",
        "It does not prove overpricing: the price may include transport to a remote place, an "
        "urgent delivery or a very small quantity.",
        "Por producto (acuerdo marco, código, unidad, descripción y moneda; fuera de un acuerdo "
        "marco, código, unidad y moneda) con al menos FLAG_PRICE_MIN_LINES líneas, también de "
        "órdenes anuladas: cuartiles Q1 y Q3 de sus precios unitarios; se marca la línea con "
        "precio mayor que Q3 + FLAG_IQR_FACTOR × (Q3 − Q1). La medida es el precio dividido por "
        "la mediana.",
        "Per product (framework agreement, code, unit, description and currency; outside a "
        "framework agreement, code, unit and currency) with at least FLAG_PRICE_MIN_LINES lines, "
        "cancelled orders' too: quartiles Q1 and Q3 of its unit prices; a line priced above "
        "Q3 + FLAG_IQR_FACTOR × (Q3 − Q1) is flagged. The measure is the price over the median.",
        ("FLAG_IQR_FACTOR", "FLAG_PRICE_MIN_LINES"),
        "OCP red-flags guide R017; Cardinal's IQR fences",
    ),
    Flag(
        "supplier_share",
        "pair",
        "Proveedor con más de la mitad del gasto",
        "Supplier with most of the spending",
        "Un solo proveedor recibe más de la mitad de lo que gasta una entidad.",
        "A single supplier receives more than half of what a buyer spends.",
        "No prueba favoritismo: una entidad pequeña, o que compra un solo tipo de bien, puede "
        "tener pocos proveedores posibles.",
        "It does not prove favouritism: a small buyer, or one buying a single kind of good, may "
        "have few possible suppliers.",
        "Por entidad con al menos FLAG_MIN_BUYER_ORDERS órdenes no anuladas, y por moneda: la "
        "parte de cada proveedor en su gasto; se marca la que supera FLAG_SHARE_THRESHOLD.",
        "Per buyer with at least FLAG_MIN_BUYER_ORDERS orders (not cancelled), and per currency: "
        "each supplier's share of its spending; a share above FLAG_SHARE_THRESHOLD is flagged.",
        ("FLAG_MIN_BUYER_ORDERS", "FLAG_SHARE_THRESHOLD"),
        "OCP red-flags guide R040; COVID-19 procurement explorer (>50%)",
    ),
    Flag(
        "buyer_hhi",
        "buyer",
        "Gasto de la entidad muy concentrado",
        "Buyer's spending highly concentrated",
        "El gasto de la entidad se concentra en muy pocos proveedores (índice de Herfindahl-Hirschman alto).",
        "The buyer's spending is concentrated in very few suppliers (a high Herfindahl-Hirschman index).",
        "No prueba falta de competencia: un mercado pequeño o una compra especializada también "
        "concentran el gasto.",
        "It does not prove a lack of competition: a small market or a specialised purchase also "
        "concentrate spending.",
        "Por entidad con al menos FLAG_MIN_BUYER_ORDERS órdenes, y por moneda: suma de los "
        "cuadrados de la parte (en %) de cada proveedor en su gasto (0 a 10 000); se marca por "
        "encima de FLAG_HHI_THRESHOLD.",
        "Per buyer with at least FLAG_MIN_BUYER_ORDERS orders, and per currency: the sum of the "
        "squares of each supplier's share (in %) of its spending (0 to 10,000); flagged above "
        "FLAG_HHI_THRESHOLD.",
        ("FLAG_MIN_BUYER_ORDERS", "FLAG_HHI_THRESHOLD"),
        "OCP red-flags guide R050/R051; US DOJ/FTC Horizontal Merger Guidelines (2010)",
    ),
    Flag(
        "catalogue_hhi",
        "agreement",
        "Catálogo concentrado en pocos proveedores",
        "Catalogue concentrated in few suppliers",
        "Las órdenes de un acuerdo marco van sobre todo a muy pocos de sus proveedores.",
        "A framework agreement's orders go mostly to very few of its suppliers.",
        "No prueba un reparto del mercado: algunos proveedores pueden ser más baratos, más "
        "grandes o los únicos que llegan a ciertas regiones.",
        "It does not prove the market is shared out: some suppliers may be cheaper, larger, or "
        "the only ones that reach some regions.",
        "Por acuerdo marco con al menos FLAG_CATALOGUE_MIN_ORDERS órdenes, y por moneda: índice "
        "de Herfindahl-Hirschman de la parte de cada proveedor en el monto de sus órdenes; se "
        "marca por encima de FLAG_HHI_THRESHOLD.",
        "Per framework agreement with at least FLAG_CATALOGUE_MIN_ORDERS orders, and per "
        "currency: the Herfindahl-Hirschman index of each supplier's share of its orders' amount; "
        "flagged above FLAG_HHI_THRESHOLD.",
        ("FLAG_CATALOGUE_MIN_ORDERS", "FLAG_HHI_THRESHOLD"),
        "OCP red-flags guide R051; US DOJ/FTC Horizontal Merger Guidelines (2010)",
    ),
    Flag(
        "single_quote",
        "order",
        "Una sola cotización",
        "Single quote",
        "La orden se emitió con una sola cotización: nadie más ofertó.",
        "The order was placed with a single quote: nobody else offered.",
        "No prueba que se haya impedido competir: en compras pequeñas o por catálogo es común que "
        "solo cotice el proveedor elegido.",
        "It does not prove competition was prevented: in small or catalogue purchases it is "
        "common that only the chosen supplier quotes.",
        "Órdenes no anuladas que publican exactamente una oferta (bids.details), o, sin ofertas "
        "publicadas, tender.numberOfTenderers igual a 1.",
        "Orders (not cancelled) that publish exactly one bid (bids.details), or, with no bids "
        "published, tender.numberOfTenderers equal to 1.",
        (),
        "OCP red-flags guide R018; Cardinal R018",
    ),
    Flag(
        "amendment_raise",
        "order",
        "Monto aumentado después",
        "Value raised afterwards",
        "El valor del contrato subió más de un 20% respecto del primero publicado.",
        "The contract's value rose more than 20% above the first one published.",
        "No prueba un abuso: una modificación puede estar justificada (más cantidad, nuevos "
        "lugares de entrega).",
        "It does not prove abuse: a change may be justified (more quantity, new delivery places).",
        "Valor actual del proceso frente al valor de su primera entrega (release), en la misma "
        "moneda; se marca si el aumento supera FLAG_AMENDMENT_RAISE del primero.",
        "The process's current value against the value of its first release, in the same "
        "currency; flagged when the rise exceeds FLAG_AMENDMENT_RAISE of the first.",
        ("FLAG_AMENDMENT_RAISE",),
        "OCP red-flags guide R035; COVID-19 procurement explorer (>20%)",
    ),
    Flag(
        "heterogeneous_supplier",
        "supplier",
        "Proveedor de rubros muy distintos",
        "Supplier of very different goods",
        "El proveedor vende bienes de muchos más rubros (segmentos UNSPSC) que los demás.",
        "The supplier sells goods of many more industries (UNSPSC segments) than others do.",
        "No prueba que sea una empresa de fachada: los distribuidores generales venden de todo.",
        "It does not prove it is a shell company: general distributors sell everything.",
        "Por proveedor: número de segmentos UNSPSC distintos de sus líneas; se marca por encima "
        "de Q3 + FLAG_IQR_FACTOR × (Q3 − Q1) de ese número entre todos los proveedores.",
        "Per supplier: the number of distinct UNSPSC segments of its lines; flagged above "
        "Q3 + FLAG_IQR_FACTOR × (Q3 − Q1) of that number over every supplier.",
        ("FLAG_IQR_FACTOR",),
        "Cardinal R048 (heterogeneous supplier)",
    ),
    Flag(
        "new_supplier",
        "order",
        "Proveedor nuevo con una orden grande",
        "New supplier winning a large order",
        "Un proveedor que recibió su primera orden hace poco gana una orden grande.",
        "A supplier that received its first order only recently wins a large order.",
        "No prueba que la empresa se haya creado para esa compra: todo proveedor fue nuevo alguna "
        "vez, y los datos solo muestran sus órdenes aquí, no su historia.",
        "It does not prove the company was set up for that purchase: every supplier was new "
        "once, and the data only show its orders here, not its history.",
        "Orden no anulada con monto igual o mayor que el cuantil FLAG_LARGE_QUANTILE de las "
        "órdenes en su moneda, fechada hasta FLAG_NEW_SUPPLIER_DAYS días después de la primera "
        "orden del proveedor; no se marcan los proveedores cuya primera orden cae en los primeros "
        "FLAG_NEW_SUPPLIER_DAYS días de los datos (podrían ser antiguos).",
        "An order (not cancelled) whose amount is at or above the FLAG_LARGE_QUANTILE quantile of "
        "orders in its currency, dated within FLAG_NEW_SUPPLIER_DAYS days of the supplier's first "
        "order; suppliers whose first order falls in the data's first FLAG_NEW_SUPPLIER_DAYS days "
        "are not flagged (they may be old).",
        ("FLAG_NEW_SUPPLIER_DAYS", "FLAG_LARGE_QUANTILE"),
        "DIGIWHIST NEW_COMPANY; OCP red-flags guide R052",
    ),
    Flag(
        "year_end_rush",
        "buyer",
        "Gasto concentrado a fin de año",
        "Year-end spending rush",
        "Una entidad hizo una parte grande del gasto de un año en sus últimas semanas.",
        "A buyer placed a large part of a year's spending in its last weeks.",
        "No prueba un gasto innecesario: el presupuesto puede llegar tarde, o la compra puede ser "
        "de temporada.",
        "It does not prove needless spending: the budget may arrive late, or the purchase may be seasonal.",
        "Por entidad, año y moneda con al menos FLAG_MIN_BUYER_ORDERS órdenes: parte del gasto "
        "en los últimos FLAG_YEAR_END_DAYS días del año; se marca por encima de "
        "FLAG_YEAR_END_SHARE.",
        "Per buyer, year and currency with at least FLAG_MIN_BUYER_ORDERS orders: the share of "
        "spending in the year's last FLAG_YEAR_END_DAYS days; flagged above FLAG_YEAR_END_SHARE.",
        ("FLAG_MIN_BUYER_ORDERS", "FLAG_YEAR_END_DAYS", "FLAG_YEAR_END_SHARE"),
        "OCP red-flags guide (year-end spending); Prozorro risk indicators",
    ),
    Flag(
        "late_delivery",
        "order",
        "Entrega tardía",
        "Late delivery",
        "Los datos dicen que una entrega se cumplió después de su fecha límite.",
        "The data say a delivery was met after its due date.",
        "No prueba incumplimiento del proveedor: la fecha pudo ampliarse sin publicarse, o el "
        "retraso pudo deberse a la entidad.",
        "It does not prove the supplier failed: the date may have been extended without being "
        "published, or the delay may be the buyer's.",
        "Hitos de entrega del contrato con dateMet posterior a dueDate en más de FLAG_LATE_DAYS "
        "días. Solo donde los datos publican ambas fechas.",
        "Contract delivery milestones whose dateMet is more than FLAG_LATE_DAYS days after their "
        "dueDate. Only where the data publish both dates.",
        ("FLAG_LATE_DAYS",),
        "OCP red-flags guide R068 (delivery delays)",
    ),
    Flag(
        "partial_delivery",
        "order",
        "Entrega parcial",
        "Partial delivery",
        "Los datos dicen que parte de la orden se entregó y otra parte no se cumplió.",
        "The data say part of the order was delivered and another part was not met.",
        "No prueba un perjuicio: la entidad pudo reducir lo que necesitaba.",
        "It does not prove harm: the buyer may have needed less.",
        "Contratos con al menos un hito de entrega cumplido (met) y al menos uno no cumplido (notMet).",
        "Contracts with at least one delivery milestone met and at least one not met (notMet).",
        (),
        "OCP red-flags guide R068 (contract not fully delivered)",
    ),
    Flag(
        "one_supplier",
        "pair",
        "Entidad que casi siempre compra al mismo proveedor",
        "Buyer that nearly always orders from one supplier",
        "Casi todas las órdenes de la entidad van al mismo proveedor.",
        "Nearly all of the buyer's orders go to the same supplier.",
        "No prueba un acuerdo indebido: ese proveedor puede ser el único que atiende su zona.",
        "It does not prove an improper arrangement: that supplier may be the only one serving its area.",
        "Por entidad con al menos FLAG_MIN_BUYER_ORDERS órdenes no anuladas: la parte de sus "
        "órdenes (en número) que van a su proveedor más frecuente; se marca desde "
        "FLAG_ONE_SUPPLIER_SHARE.",
        "Per buyer with at least FLAG_MIN_BUYER_ORDERS orders (not cancelled): the share of its "
        "orders (by number) that go to its most frequent supplier; flagged from "
        "FLAG_ONE_SUPPLIER_SHARE.",
        ("FLAG_MIN_BUYER_ORDERS", "FLAG_ONE_SUPPLIER_SHARE"),
        "OCP red-flags guide R040 (single supplier); Prozorro risk rules",
    ),
)

#: The flags by code.
BY_CODE: dict[str, Flag] = {f.code: f for f in FLAGS}
