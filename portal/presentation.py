"""What a person reads on an order's page or in its PDF: ``ocds.summary``'s one reading.

Kept so that callers written against ``describe_order`` (the order PDF) keep working; new code
calls :func:`ocds.summary.process_facts` directly.
"""

from __future__ import annotations

from ocds.summary import process_facts

__all__ = ["describe_order"]

describe_order = process_facts
