"""/api/v1/schema/ is a valid OpenAPI 3 document of every endpoint; /api/v1/docs/ is served
from the project's own static files, no CDN."""

from __future__ import annotations

from openapi_spec_validator import validate

PATHS = {
    "/api/v1/changes/",
    "/api/v1/changes/{id}/",
    "/api/v1/changes/{id}/decision/",
    "/api/v1/audit/",
    "/api/v1/accounts/",
    "/api/v1/poll-runs/",
}


def test_the_schema_is_valid_openapi_3_with_bearer_auth(client, db):
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= PATHS
    assert schema["components"]["securitySchemes"]["sgpToken"]["scheme"] == "bearer"
    decision = schema["paths"]["/api/v1/changes/{id}/decision/"]["post"]
    assert decision["security"] == [{"sgpToken": []}]
    params = {p["name"] for p in schema["paths"]["/api/v1/changes/"]["get"]["parameters"]}
    assert {"cursor", "page_size", "updated_since", "status", "account"} <= params


def test_the_docs_page_loads_swagger_ui_from_our_static_files(client, db):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
