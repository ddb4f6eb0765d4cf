"""The changes feeds the list and the export page through (docs/api.md, "Exactly once")."""

from __future__ import annotations

from sgportal.api.pagination import Feed

# Ingestion order: the inserting transaction, then the id (see docs/api.md, "Exactly once").
INGESTED = Feed(name="changes", position=("ingest_txid", "id"), txid_column="ingest_txid")
# Status moves: the transaction of the latest status change, then the id.
UPDATED = Feed(
    name="updates",
    position=("status_txid", "id"),
    param="updated_since",
    txid_column="status_txid",
    extra_filter={"status_txid__isnull": False},
)
