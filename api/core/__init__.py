"""The layer below everything else: settings, clock, problems, access rules, API keys' form,
FastAPI dependencies, middleware, the contract's shapes and the HTML templates' environment.
No database, no use case."""
