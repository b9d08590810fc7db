"""Ingest: turning a received file into rows, and keeping it — the source contracts, the
normalizers, the one generic reader, the messages to senders, the archive (originals,
receipts, records) and the Parquet lake with its ledger. No checks, no warehouse."""
