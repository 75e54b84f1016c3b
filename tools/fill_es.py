"""Fill Spanish translations into portal/translations/es/LC_MESSAGES/messages.po from a dict file.

Usage: python tools/fill_es.py TRANSLATIONS.py  (a module defining ES = {msgid: msgstr}).
Existing translations are kept unless the dict has the msgid.
"""

import runpy
import sys

from babel.messages.pofile import read_po, write_po

PO = "portal/translations/es/LC_MESSAGES/messages.po"
table = runpy.run_path(sys.argv[1])["ES"]
with open(PO, "rb") as f:
    catalog = read_po(f, locale="es")
for message in catalog:
    if message.id and message.id in table:
        message.string = table[message.id]
with open(PO, "wb") as f:
    write_po(f, catalog, width=100)
missing = [m.id for m in catalog if m.id and not m.string]
print("missing:", missing)
