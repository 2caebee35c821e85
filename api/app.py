"""The ASGI application object for uvicorn (`onestop serve` runs `api.app:app`)."""

from api.main import create_app

app = create_app()
