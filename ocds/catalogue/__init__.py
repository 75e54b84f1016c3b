"""Catalogue orders (órdenes de compra de catálogos electrónicos) and their OCDS form.

* :mod:`ocds.catalogue.source`: the source-order format (JSON Lines) a catalogue system exports,
  its JSON Schema and the checks beyond it (``parse_orders``).
* :mod:`ocds.catalogue.mapping`: the one place that decides how a source order becomes OCDS
  releases (``map_order``).
* :mod:`ocds.catalogue.generate`: a deterministic synthetic generator of realistic Peruvian
  catalogue orders, for demos, load tests and red-flag analysis (``generate_orders``).

The format is documented in ``docs/source-orders.md``.
"""
