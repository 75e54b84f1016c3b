"""The read side of the evidence log: everything a web worker serves, from the database only.

Web workers import nothing else of ``portal.evidence`` (besides ``store`` and ``tables``), so
they never load web3, py-evm or pyHanko: sealing and anchoring are the ``veraz anchor``
process's job, and a chain or TSA that is down never slows a page.

* ``anchors``: the anchor state of sealed checkpoints, as published;
* ``proofs``: the proof bundle of a release (``/api/proofs/<ocid>``);
* ``log_api``: what the log API serves (key, checkpoints, consistency proofs, entries) and
  when the next checkpoint is due;
* ``tiles``: the log as a C2SP tlog-tiles log (tiles and entry bundles a checkpoint covers);
* ``verification``: what the verification page needs (versions of an order, its PDF, the
  lookup, the RFC 3161 check the server does for a phone);
* ``evidence_pdfs``: the listing and the stored bytes of signed evidence PDFs;
* ``trust``: the CA certificates a citizen trusts to check timestamps and evidence PDFs.
"""
