"""Customer tokens are JWTs a third party verifies with PyJWT alone (and the JWKS when a key
pair is configured); everything else about a token that is not exactly what was issued is
401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import select

from app.auth.models import InstanceSecret
from app.auth.scopes import Scope
from app.cashback import customer_tokens, tokens
from app.core.settings import Settings
from app.main import create_app
from tests import factories as f
from tests.conftest import KeyMaker

FORMER_DEV_CONSTANT = "dev-only-token-secret-change-me"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pem(private: Any) -> str:
    return str(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


async def issue(client: httpx.AsyncClient, h: dict[str, str], cid: str = "c1") -> dict[str, Any]:
    await client.post("/v1/events", json=f.purchase(cid), headers=h)
    r = await client.post(f"/v1/customers/{cid}/tokens", headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}


async def test_a_token_verifies_with_pyjwt_alone_and_tampering_is_401(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    secret = "s" * 40
    app.state.settings = app.state.settings.model_copy(update={"token_secret": secret})
    issued = await issue(client, h)
    token = issued["token"]
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience="touchpoint-customer")
    assert claims["sub"] == "c1" and claims["jti"] == issued["jti"]
    assert claims["exp"] - claims["iat"] == 3600
    assert datetime.fromtimestamp(claims["exp"], UTC) == datetime.fromisoformat(
        issued["expires_at"]
    )
    assert (await me(client, token)).json()["customer_id"] == "c1"

    header, payload, signature = token.split(".")
    altered = json.loads(_unb64(payload)) | {"sub": "c2"}
    forged = f"{header}.{_b64(json.dumps(altered).encode())}.{signature}"
    unsigned = jwt.encode(claims, None, algorithm="none")
    keys = tokens.hs256_keys(secret)
    other_audience = tokens.issue(keys, "c1", 600, datetime.now(UTC), "someone-else").token
    expired = tokens.issue(
        keys, "c1", 60, datetime.now(UTC) - timedelta(hours=2), "touchpoint-customer"
    ).token
    for bad in (forged, unsigned, other_audience, expired, token[:-3] + "AAA"):
        r = await me(client, bad)
        assert r.status_code == 401, bad
        assert r.headers["content-type"] == "application/problem+json"


async def test_revocation_by_jti(client: httpx.AsyncClient, h: dict[str, str], app: Any) -> None:
    secret = "t" * 40
    app.state.settings = app.state.settings.model_copy(update={"token_secret": secret})
    first, second = await issue(client, h), await issue(client, h)
    r = await client.delete(f"/v1/customers/c1/tokens/{first['jti']}", headers=h)
    assert r.status_code == 204
    assert (await me(client, first["token"])).status_code == 401
    assert (await me(client, second["token"])).status_code == 200
    assert (
        await client.delete(f"/v1/customers/c2/tokens/{second['jti']}", headers=h)
    ).status_code == 404  # a token is revoked under its own customer only
    # A valid signature is not enough: a jti never issued here is refused.
    stray = tokens.issue(
        tokens.hs256_keys(secret), "c1", 600, datetime.now(UTC), "touchpoint-customer"
    )
    assert (await me(client, stray.token)).status_code == 401


async def test_tokens_of_the_former_format_get_a_clear_401(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    await issue(client, h)
    old = "tpc_eyJjIjoiYzEiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"
    r = await me(client, old)
    assert r.status_code == 401
    problem = r.json()
    assert problem["type"].endswith("/customer-token-format-retired")
    assert "Request a new token" in problem["detail"]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_without_a_configured_secret_one_is_generated_once_and_kept(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Settings
) -> None:
    assert app.state.settings.token_secret is None
    issued = await issue(client, h)
    async with app.state.db.sessionmaker() as s:
        stored = await s.scalar(
            select(InstanceSecret.value).where(InstanceSecret.name == customer_tokens.SECRET_NAME)
        )
    assert stored and len(stored) >= 48 and stored != FORMER_DEV_CONSTANT
    jwt.decode(issued["token"], stored, algorithms=["HS256"], audience="touchpoint-customer")
    # Another process on the same database (a restart, a replica) accepts the token.
    replica = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=replica)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
            assert (await me(other, issued["token"])).status_code == 200
    finally:
        await replica.state.db.dispose()
    # What anyone could forge before: a token under the constant that used to be in the source.
    forged = tokens.issue(
        tokens.hs256_keys(FORMER_DEV_CONSTANT),
        "c1",
        600,
        datetime.now(UTC),
        "touchpoint-customer",
    )
    assert (await me(client, forged.token)).status_code == 401


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
async def test_a_key_pair_signs_and_the_jwks_verifies(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, algorithm: str
) -> None:
    private = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "EdDSA"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    app.state.settings = app.state.settings.model_copy(
        update={"customer_token_algorithm": algorithm, "customer_token_private_key": pem(private)}
    )
    issued = await issue(client, h)
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    jwks = jwt.PyJWKSet.from_dict(r.json())
    (key,) = jwks.keys
    assert jwt.get_unverified_header(issued["token"])["kid"] == key.key_id
    claims = jwt.decode(
        issued["token"], key.key, algorithms=[algorithm], audience="touchpoint-customer"
    )
    assert claims["sub"] == "c1"
    assert (await me(client, issued["token"])).status_code == 200
    # An HS256 token "signed" with the public key (algorithm confusion) is refused.
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.key_id}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert (await me(client, f"{header}.{body}.{_b64(mac)}")).status_code == 401


async def test_jwks_is_empty_with_a_shared_secret(client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200 and r.json() == {"keys": []}


def test_a_wrong_key_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="Ed25519"):
        Settings(
            customer_token_algorithm="EdDSA",
            customer_token_private_key=pem(
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
            ),
        )
    with pytest.raises(ValueError, match="PRIVATE_KEY"):
        Settings(customer_token_algorithm="RS256")
