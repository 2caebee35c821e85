"""The service around the engine, one layer a folder, imports pointing down only:
`core` (settings, problems, access, the contract's shapes) ← `db` (tables, migrations, the
settlement store) ← `services` (a use case a function) ← `routes`, `web`, `cli` (the entry
points); `main` composes them into the FastAPI application (docs/architecture.md)."""
