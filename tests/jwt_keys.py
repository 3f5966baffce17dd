"""Keys, signed JWTs and certificates for the identity-platform stand-in (tests/entra_id.py):
a CI system's OIDC issuer whose tokens an app trusts, and an app's self-signed certificate."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign_jwt(key: Any, claims: dict[str, Any]) -> str:
    """A compact RS256 JWT of ``claims``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64(signature)}"


@dataclass
class FederatedIssuer:
    """An OIDC issuer (a CI system's) whose tokens an app trusts for one subject."""

    url: str
    key: Any = field(default_factory=rsa_key)

    def token(self, subject: str, audience: str = EXCHANGE_AUDIENCE, life: int = 600) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": subject, "aud": audience, "iat": now, "exp": now + life}
        return sign_jwt(self.key, claims | {"nbf": now})


def self_signed(name: str) -> tuple[Any, str]:
    """An app's certificate: (the certificate, PEM of its private key and the certificate)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key, now = rsa_key(), datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)
    return cert, pem.decode()
