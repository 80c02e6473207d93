"""Token verification: signature against the issuer's keys, iss, aud, times, type, rotation."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.auth.claims import InvalidToken
from services.auth.issuer import mint
from services.auth.jwks import JwksCache, KeysUnavailable
from services.auth.verifier import TokenVerifier
from tests.unit.auth.conftest import ISSUER, Keys, config


def token(keys: Keys, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "role": "consultant",
        "subject": "kons-1",
        "municipality": "0751",
        "audiences": ("jobmatch-events",),
    }
    return mint(keys.store, ISSUER, **{**args, **overrides})


async def test_a_good_token_gives_the_caller(keys: Keys, verifier: TokenVerifier) -> None:
    p = await verifier.verify(token(keys))
    assert (p.role, p.subject, p.municipality_code, p.issuer) == (
        "consultant",
        "kons-1",
        "0751",
        ISSUER,
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"minutes": -2}, "expired"),
        ({"not_before": 300.0}, "not valid yet"),  # seconds from now
        ({"audiences": ("jobmatch-profiles",)}, "another audience"),
        ({"extra": {"iss": "http://evil.test"}}, "another issuer"),
    ],
)
async def test_times_audience_and_issuer_are_checked(
    keys: Keys, verifier: TokenVerifier, overrides: dict[str, Any], reason: str
) -> None:
    if "not_before" in overrides:
        overrides = {"not_before": time.time() + overrides["not_before"]}
    with pytest.raises(InvalidToken, match=reason):
        await verifier.verify(token(keys, **overrides))


async def test_a_small_clock_skew_is_tolerated(keys: Keys, verifier: TokenVerifier) -> None:
    # Expired 10 s ago, within the 30 s leeway; valid from 10 s ahead.
    past = await verifier.verify(token(keys, minutes=-10 / 60))
    future = await verifier.verify(token(keys, not_before=time.time() + 10))
    assert past.subject == future.subject == "kons-1"


def _resign(good: str, key: Any, alg: str = "RS256", **header: Any) -> str:
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt", **header})


async def test_a_forged_signature_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidToken, match="signature"):
        await verifier.verify(_resign(token(keys), stranger))
    # A tampered payload with the original signature.
    head, body, sig = token(keys).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["role"] = "administrator"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="signature"):
        await verifier.verify(f"{head}.{forged}.{sig}")


async def test_unsigned_and_shared_secret_tokens_are_refused(
    keys: Keys, verifier: TokenVerifier
) -> None:
    good = token(keys)
    claims = jwt.decode(good, options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"})  # type: ignore[arg-type]
    with pytest.raises(InvalidToken, match="'none' is not accepted"):
        await verifier.verify(unsigned)
    # The classic confusion: HS256 keyed with the issuer's public key.
    _, private = keys.store.signing_key()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    # PyJWT will not sign this way itself, so the test builds the token by hand.
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode())
    signing_input = f"{head}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{b64(mac)}"
    with pytest.raises(InvalidToken, match="HS256"):
        await verifier.verify(confused)
    with pytest.raises(InvalidToken, match="not a JWT"):
        await verifier.verify("not-a-token")


async def test_only_access_tokens_are_accepted(keys: Keys, verifier: TokenVerifier) -> None:
    _, private = keys.store.signing_key()
    id_token = _resign(token(keys), private, typ="JWT")
    with pytest.raises(InvalidToken, match="not an access token"):
        await verifier.verify(id_token)


async def test_a_rotated_key_is_fetched_once_and_old_tokens_keep_working(keys: Keys) -> None:
    clock = [0.0]
    cache = JwksCache("http://issuer.test/jwks", fetch=keys.fetch, clock=lambda: clock[0])
    verifier = TokenVerifier(config(), cache)
    old = token(keys)
    await verifier.verify(old)
    assert keys.fetches == 1
    keys.store.rotate()
    clock[0] += 1.5
    new = token(keys, subject="kons-2")
    assert (await verifier.verify(new)).subject == "kons-2"
    assert keys.fetches == 2  # the unknown key id made it fetch again
    verifier.forget()
    assert (await verifier.verify(old)).subject == "kons-1"
    assert keys.fetches == 2


async def test_made_up_key_ids_do_not_turn_into_a_flood_of_fetches(keys: Keys) -> None:
    cache = JwksCache("http://issuer.test/jwks", min_refresh_s=60, fetch=keys.fetch)
    verifier = TokenVerifier(config(), cache)
    await verifier.verify(token(keys))
    _, private = keys.store.signing_key()
    for n in range(20):
        with pytest.raises(InvalidToken, match="does not publish"):
            claims = jwt.decode(token(keys), options={"verify_signature": False})
            await verifier.verify(
                jwt.encode(claims, private, "RS256", headers={"kid": f"k{n}", "typ": "at+jwt"})
            )
    assert keys.fetches <= 2


async def test_the_issuer_being_down_does_not_stop_known_keys(keys: Keys) -> None:
    clock = [0.0]
    cache = JwksCache(
        "http://issuer.test/jwks", ttl_s=300, fetch=keys.fetch, clock=lambda: clock[0]
    )
    verifier = TokenVerifier(config(), cache)
    await verifier.verify(token(keys))
    keys.down = True
    clock[0] = 1000.0  # the keys are stale and the refresh fails: they are kept
    verifier.forget()
    assert (await verifier.verify(token(keys, subject="kons-9"))).subject == "kons-9"
    empty = TokenVerifier(config(), JwksCache("http://issuer.test/jwks", fetch=keys.fetch))
    with pytest.raises(KeysUnavailable):
        await empty.verify(token(keys))
    assert not await JwksCache("http://x/jwks", fetch=keys.fetch).ready()


async def test_a_verified_token_is_remembered_but_not_past_its_expiry(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [time.time()]
    cache = JwksCache("http://issuer.test/jwks", fetch=keys.fetch)
    verifier = TokenVerifier(config(leeway_s=0.0), cache, clock=lambda: now[0])
    checks: list[str] = []
    real = verifier._verify

    async def counted(raw: str) -> Any:
        checks.append(raw)
        return await real(raw)

    monkeypatch.setattr(verifier, "_verify", counted)
    short = token(keys, minutes=1)
    for _ in range(3):
        assert (await verifier.verify(short)).subject == "kons-1"
    assert len(checks) == 1  # remembered
    now[0] += 61  # past its exp: checked again
    await verifier.verify(short)
    assert len(checks) == 2


async def test_however_many_wait_one_fetch_serves_them(keys: Keys) -> None:
    clock = [0.0]
    cache = JwksCache(
        "http://issuer.test/jwks", ttl_s=300, fetch=keys.fetch, clock=lambda: clock[0]
    )
    verifier = TokenVerifier(config(), cache)
    tokens = [token(keys, subject=f"kons-{n}") for n in range(50)]
    await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert keys.fetches == 1  # the first fetch, shared by all fifty
    clock[0] = 400.0  # the keys are stale: they keep serving while one renewal runs
    verifier.forget()
    await asyncio.gather(*(verifier.verify(t) for t in tokens))
    await asyncio.sleep(0)
    assert keys.fetches == 2
    keys.store.rotate()  # a new key: fifty tokens with its id make one fetch
    clock[0] = 402.0
    rotated = [token(keys, subject=f"kons-{n}") for n in range(50)]
    await asyncio.gather(*(verifier.verify(t) for t in rotated))
    assert keys.fetches == 3
