"""The query API documents its views with examples (what /docs shows)."""

from __future__ import annotations

from services.profiles.app import create_app
from services.profiles.settings import ProfilesSettings


def test_openapi_has_examples_and_documents_errors() -> None:
    settings = ProfilesSettings(
        kafka_bootstrap_servers="127.0.0.1:1",
        redis_url="redis://x:1/0",
        auth_issuer="http://issuer",
        auth_jwks_url="http://issuer/jwks",
    )
    paths = create_app(settings).openapi()["paths"]  # no connection: lifespan does not run
    for path in (
        "/v1/worklists/{municipality_code}",
        "/v1/worklists/{municipality_code}/follow-ups",
        "/v1/worklists/{municipality_code}/counts",
        "/v1/employers/{cvr}",
        "/v1/employers/{cvr}/candidates",
        "/v1/kpis/{municipality_code}",
    ):
        get = paths[path]["get"]
        assert get["responses"]["200"]["content"]["application/json"]["example"], path
        assert {"304", "401", "403", "404", "504"} <= set(get["responses"]), path
        assert get["security"] == [{"HTTPBearer": []}], path
    params = {p["name"]: p for p in paths["/v1/worklists/{municipality_code}"]["get"]["parameters"]}
    assert {"programme", "occupation_uri", "postal_prefix", "min_score", "min_position"} <= set(
        params
    )
    employer = {p["name"]: p for p in paths["/v1/employers/{cvr}"]["get"]["parameters"]}
    assert {"job_order_id", "include_order", "min_position"} <= set(employer)
    assert employer["include_order"]["schema"]["default"] is True  # as before, by default
