"""The use cases, a file a feature of plain functions over the store: settlements (and their
group commit), registries and imports, finance, clearing, reconciliation, the ledger check,
the demo data, the printable statement."""
