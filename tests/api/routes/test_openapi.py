"""The served OpenAPI document is what hospital and finance clients generate their code from:
it changes only on purpose. The committed copy is the contract as served; a change to a route,
a model or a description shows here as a diff to review and commit with it.

Regenerate it after a deliberate change with:

    .venv/bin/python -m tests.api.routes.test_openapi
"""

from __future__ import annotations

import json
from pathlib import Path

from api.core.config import Settings
from api.main import create_app

COMMITTED = Path(__file__).with_name("openapi.json")


def served_openapi() -> str:
    """The document as the service serves it at /openapi.json, written out stably."""
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2) + "\n"


def test_the_served_openapi_document_is_byte_identical_to_the_committed_copy() -> None:
    assert served_openapi() == COMMITTED.read_text(encoding="utf-8"), (
        "the OpenAPI document changed; if on purpose, regenerate it: "
        ".venv/bin/python -m tests.api.routes.test_openapi"
    )


if __name__ == "__main__":
    COMMITTED.write_text(served_openapi(), encoding="utf-8")
    print(f"written {COMMITTED}")
