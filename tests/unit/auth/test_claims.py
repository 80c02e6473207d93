"""Claims to a Principal: the identity provider's names are configuration."""

from __future__ import annotations

from typing import Any

import pytest

from services.auth.claims import ClaimMapping, InvalidToken, principal_from_claims

DEFAULT = ClaimMapping()


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "kons-1", "iss": "http://i", "exp": 2_000_000_000, **extra}


def test_a_consultant_gets_the_municipality_and_nothing_else() -> None:
    p = principal_from_claims(
        claims(role="consultant", municipality="0751", cvr="39121018", scope="kpis:read"), DEFAULT
    )
    assert (p.role, p.subject, p.municipality_code, p.cvr, p.scopes) == (
        "consultant",
        "kons-1",
        "0751",
        None,
        frozenset(),
    )
    assert p.actor().model_dump() == {
        "role": "consultant",
        "id": "kons-1",
        "municipality_code": "0751",
        "cvr": None,
    }


def test_an_identity_brokers_claims_map_by_configuration() -> None:
    """E.g. Keycloak brokering KOMBIT: roles in realm_access.roles, the municipality in a
    custom claim, the role values the broker's own."""
    mapping = ClaimMapping(
        role_claim="realm_access.roles",
        municipality_claim="dk:kommunekode",
        role_map={"jobmatch-virksomhedskonsulent": "consultant"},
    )
    token = claims(
        realm_access={"roles": ["offline_access", "jobmatch-virksomhedskonsulent"]},
        **{"dk:kommunekode": ["0101"]},
    )
    p = principal_from_claims(token, mapping)
    assert (p.role, p.municipality_code) == ("consultant", "0101")
    # Our own role names mean nothing once a map is configured.
    with pytest.raises(InvalidToken, match="no jobmatch role"):
        principal_from_claims(claims(realm_access={"roles": ["consultant"]}), mapping)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"role": "wizard"}, "no jobmatch role"),
        ({}, "no jobmatch role"),
        ({"role": ["consultant", "administrator"], "municipality": "0751"}, "several"),
        ({"role": "consultant"}, "must name the municipality"),
        ({"role": "consultant", "municipality": "9999"}, "not a municipality code"),
        ({"role": "consultant", "municipality": ["0751", "0101"]}, "one value"),
        ({"role": "employer"}, "must name the CVR"),
        ({"role": "employer", "cvr": "39121019"}, "not a valid CVR"),
        ({"role": "administrator", "sub": "<script>alert(1)</script>"}, "subject"),
        ({"role": "administrator", "sub": ""}, "subject"),
    ],
)
def test_tokens_that_say_too_little_or_too_much_are_refused(
    extra: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidToken, match=reason):
        principal_from_claims(claims(**extra), DEFAULT)


def test_a_system_account_gets_only_known_scopes() -> None:
    p = principal_from_claims(
        claims(role="system", sub="downstream-x", scope="kpis:read admin:everything"), DEFAULT
    )
    assert p.scopes == frozenset({"kpis:read"})
    assert p.grants("kpis:read") and not p.grants("citizens:read")
    # National unless the token names a municipality.
    assert p.in_municipality("0751") and p.in_municipality("0101")
    local = principal_from_claims(claims(role="system", municipality="0751"), DEFAULT)
    assert local.in_municipality("0751") and not local.in_municipality("0101")


def test_an_employer_gets_the_cvr_and_no_municipality() -> None:
    p = principal_from_claims(claims(role="employer", cvr="39121018", municipality="0751"), DEFAULT)
    assert (p.cvr, p.municipality_code) == ("39121018", None)
    assert not p.in_municipality("0751")
