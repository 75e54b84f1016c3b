"""``python -m portal`` is the ``veraz`` command."""

from portal.cli import main

main(prog_name="veraz")
