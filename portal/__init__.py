"""Veraz portal: wires the ``ocds`` and ``anchoring`` libraries to people.

Pages, the OCDS API, dashboards and the ``veraz`` command live here; OCDS knowledge lives in
``ocds/`` and proof knowledge in ``anchoring/``.
"""
