"""``python -m portal.witness`` is ``veraz witness`` without the portal's settings or database:
a witness operator needs nothing else of the portal."""

from portal.witness.cli import witness_group

witness_group(prog_name="veraz witness")
