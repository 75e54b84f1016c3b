"""Bulk downloads: every published release as files (``veraz export``), served at ``/downloads``.

The OCP Data Registry's layout (compiled releases per year and in full, CSV and XLSX per year)
plus OCDS release and record packages per year, ``SHA256SUMS`` and ``manifest.json``; rebuilt
incrementally, each file replaced atomically. ``docs/bulk-downloads.md`` documents the layout
and the manifest for independent readers.
"""

from __future__ import annotations

from portal.exports.build import ExportFailed, ExportSummary, Limits, Publication, default_folder, export
from portal.exports.manifest import FileEntry, file_finished, read_manifest

__all__ = [
    "ExportFailed",
    "ExportSummary",
    "FileEntry",
    "Limits",
    "Publication",
    "default_folder",
    "export",
    "file_finished",
    "read_manifest",
]
