"""/docs: Swagger UI from our own static files and a start-up script file; no CDN, no inline JS."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.main import STATIC_DIR


def test_docs_use_local_assets_only(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.text
    sources = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert sources == ["/static/swagger/swagger-ui-bundle.js", "/static/docs.js"]
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None  # no inline script
    assert 'href="/static/swagger/swagger-ui.css"' in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert 'data-openapi-url="/openapi.json"' in html
    for path in [*sources, "/static/swagger/swagger-ui.css"]:
        asset = client.get(path)
        assert asset.status_code == 200 and len(asset.content) > 500, path
    assert (STATIC_DIR / "swagger" / "LICENSE").is_file()
    assert client.get("/redoc").status_code == 404
