"""`python -m api.cli`: the `onestop` command line (the load and reliability tests start the
service this way)."""

from api.cli import app

app()
