"""Customer tokens for mobile apps: JWTs (RFC 7519), made and checked with PyJWT.

Claims: `sub` (the sender's customer id), `aud`, `iat`, `exp`, `jti` (what revocation keys
on) and `iss` when configured. Signed with HS256 under the deployment's secret, or with EdDSA
(Ed25519) or RS256 under a configured private key whose public half is published as a JWKS, so
an API gateway can verify tokens itself. Pure: keys and time come from the caller.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

# Compact JWS always starts with the base64url of '{"', and the retired format with `tpc_`;
# the bearer tokens of both kinds come to `verify`.
PREFIX = ("eyJ", "tpc_")
RETIRED_PREFIX = "tpc_"
REQUIRED = ["sub", "aud", "exp", "iat", "jti"]
MAX_TOKEN_LENGTH = 4096


class InvalidToken(Exception):
    """Forged, malformed, expired, for another audience or signed another way."""


class RetiredToken(InvalidToken):
    """A token of the format used before JWTs."""


@dataclass(frozen=True)
class TokenKeys:
    algorithm: str  # HS256 | EdDSA | RS256
    signing_key: Any  # the secret (bytes) or the private key
    verifying_key: Any  # the secret (bytes) or the public key
    kid: str | None = None

    def jwks(self) -> dict[str, Any]:
        """The public key set a gateway verifies with; empty for HS256 (a shared secret is
        never published)."""
        if self.algorithm == "HS256":
            return {"keys": []}
        return {"keys": [public_jwk(self.verifying_key, self.algorithm, self.kid)]}


@dataclass(frozen=True)
class Issued:
    token: str
    jti: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Claims:
    customer_id: str
    jti: str
    expires_at: datetime


def hs256_keys(secret: str) -> TokenKeys:
    key = secret.encode()
    return TokenKeys("HS256", key, key)


def asymmetric_keys(algorithm: str, private_pem: bytes) -> TokenKeys:
    """Keys from a PEM private key; the key type must fit the algorithm."""
    private = serialization.load_pem_private_key(private_pem, password=None)
    if algorithm == "EdDSA" and not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ValueError("EdDSA customer tokens need an Ed25519 private key")
    if algorithm == "RS256":
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("RS256 customer tokens need an RSA private key")
        if private.key_size < 2048:
            raise ValueError("RS256 customer tokens need an RSA key of at least 2048 bits")
    if algorithm not in ("EdDSA", "RS256"):
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    public = private.public_key()
    return TokenKeys(algorithm, private, public, kid=thumbprint(public_jwk(public, algorithm)))


@lru_cache(maxsize=8)
def configured_keys(algorithm: str, inline_pem: str | None, path: Path | None) -> TokenKeys:
    """The key pair of the settings (PEM given inline or as a file), loaded once."""
    if inline_pem:
        pem = inline_pem.encode()
    elif path is not None:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the customer-token key file {path}: {exc}") from exc
    else:
        raise ValueError(f"{algorithm} customer tokens need a private key")
    return asymmetric_keys(algorithm, pem)


def public_jwk(public: Any, algorithm: str, kid: str | None = None) -> dict[str, Any]:
    maker = OKPAlgorithm if algorithm == "EdDSA" else RSAAlgorithm
    jwk: dict[str, Any] = json.loads(maker.to_jwk(public))
    jwk |= {"use": "sig", "alg": algorithm}
    if kid:
        jwk["kid"] = kid
    return jwk


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the key's required members in lexicographic order."""
    members = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(
    keys: TokenKeys,
    customer_id: str,
    ttl_seconds: int,
    now: datetime,
    audience: str,
    issuer: str | None = None,
) -> Issued:
    issued_at = now.replace(microsecond=0)
    expires = issued_at + timedelta(seconds=ttl_seconds)
    jti = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "sub": customer_id,
        "aud": audience,
        "iat": int(issued_at.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": jti,
    }
    if issuer:
        claims["iss"] = issuer
    headers = {"kid": keys.kid} if keys.kid else None
    token = jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers=headers)
    return Issued(token, jti, issued_at, expires)


def verify(keys: TokenKeys, token: str, audience: str, issuer: str | None = None) -> Claims:
    """The claims of a valid token; InvalidToken (RetiredToken for the old format) otherwise.

    Only the configured algorithm is accepted (so `alg: none` and an HS256 token signed with a
    public key are refused); `exp` is checked against the clock without leeway.
    """
    if token.startswith(RETIRED_PREFIX):
        raise RetiredToken("customer token in the retired tpc_ format")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("token too long")
    try:
        claims = jwt.decode(
            token,
            keys.verifying_key,
            algorithms=[keys.algorithm],
            audience=audience,
            issuer=issuer,
            options={"require": REQUIRED + (["iss"] if issuer else [])},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    sub, jti = claims.get("sub"), claims.get("jti")
    if not isinstance(sub, str) or not sub or not isinstance(jti, str) or not jti:
        raise InvalidToken("sub and jti must be non-empty strings")
    return Claims(sub, jti, datetime.fromtimestamp(int(claims["exp"]), UTC))
