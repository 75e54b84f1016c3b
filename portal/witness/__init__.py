"""A C2SP tlog-witness anyone can run for any Veraz log (``veraz witness serve``).

The witness is independent of the portal it watches: its own key file (0600), its own small
SQLite database, its own process; it imports nothing of the portal's database or settings.
``protocol`` is the add-checkpoint decision (c2sp.org/tlog-witness), ``state`` the witness's
database, ``app`` the WSGI application, ``cli`` the commands. ``docs/witnesses.md`` says how
to run one and what a cosignature states.
"""
