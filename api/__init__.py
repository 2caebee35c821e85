"""The shell around the engine: the HTTP contract's shapes, the `onestop` command line, and
(from the service issue on) the FastAPI service and its persistence."""
