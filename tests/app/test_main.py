"""The application factory: start-up migrates and opens the database; the web stays light."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from app.main import create_app
from app.templating import HTMX_CDN, make_templates
from db.settings import Settings


def test_start_up_migrates_an_empty_database(postgres_server: str) -> None:
    name = f"maira_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    try:
        with TestClient(create_app(Settings(database_url=url))) as client:
            assert client.get("/api/v1/saes").json() == {"data": [], "count": 0}
            assert "No SAE has been imported yet" in client.get("/").text
            assert client.get("/docs").status_code == 200
            schema = client.get("/openapi.json").json()
            assert "/api/v1/saes/{sae}/features/{index}" in schema["paths"]
            assert not any(path.startswith("/saes") for path in schema["paths"])
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_every_api_route_declares_its_response_model() -> None:
    app = create_app(Settings(database_url="postgresql://unused/unused"))
    schema = app.openapi()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            success = min(code for code in operation["responses"] if code.startswith("2"))
            if success == "204":
                continue
            content = operation["responses"][success]["content"]["application/json"]
            members = content["schema"].get("oneOf", [content["schema"]])
            assert all("$ref" in member for member in members), (
                f"{method.upper()} {path} has no response model"
            )


def test_htmx_falls_back_to_the_cdn(tmp_path: Path) -> None:
    assert make_templates(tmp_path).env.globals["htmx_local"] is False
    (tmp_path / "htmx.min.js").write_text("/* htmx */")
    assert make_templates(tmp_path).env.globals["htmx_local"] is True
    assert HTMX_CDN.startswith("https://") and "htmx.org@2" in HTMX_CDN


def test_the_web_process_does_not_import_torch() -> None:
    code = (
        "import sys, app.main, app.server; app.main.create_app(); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
