"""OCDS for Veraz: schema, validation, compiling records, packaging and reading existing data.

Pure Python: this package knows the Open Contracting Data Standard (1.1.5 plus the extensions
declared in :mod:`ocds.schema`) and nothing of Flask, the portal or the evidence log.
"""
