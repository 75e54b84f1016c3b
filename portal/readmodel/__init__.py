"""The read model: what the browse page, its facets and the profiles read.

Derived from the compiled releases by ``ocds.summary`` (``browse_columns`` for the ``records``
columns, ``read_model_rows`` for ``item_lines`` and ``parties``), written in the publishing
transaction by ``portal.publishing.records.store_records`` and rebuilt from the releases by
``veraz reindex`` (:func:`portal.readmodel.build.reindex`). Queries over it live in
:mod:`portal.readmodel.queries`.
"""
