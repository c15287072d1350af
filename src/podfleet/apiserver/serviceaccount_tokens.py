"""ServiceAccount tokens: JWTs the API server signs (TokenRequest) and accepts as credentials.

As kube-apiserver's bound service account tokens:

- signed (ES256) with a key kept in the data dir (`service-account.key`, created on first start; a
  file that is there but unreadable stops the server with an error naming it, never a silent new
  key, which would invalidate every token issued);
- claims: `iss` (the issuer), `sub` (`system:serviceaccount:<ns>:<name>`), `aud`, `exp`, `iat`,
  `nbf`, `jti`, and `kubernetes.io` with the namespace, the ServiceAccount's name and uid and,
  for a token bound to a pod, the pod's name and uid;
- a token authenticates only while its signature, issuer, audience (one of the server's) and times
  hold, and while the ServiceAccount (and the pod it is bound to) still exists with the same uid:
  deleting either revokes it. Those lookups are answered from memory (`UidIndex`), since
  authentication is synchronous and per request;
- the public key is published as a JWKS with an OpenID discovery document, so systems outside the
  cluster can verify tokens themselves.

The cryptography is PyJWT's over `cryptography`'s keys; nothing here signs or verifies by hand.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from podfleet.api import rbac
from podfleet.api.errors import Unauthorized
from podfleet.api.resources import PODS, SERVICEACCOUNTS
from podfleet.apiserver.auth import AUTHENTICATED_GROUP, UserInfo
from podfleet.apiserver.uid_index import UidIndex

log = logging.getLogger("podfleet.serviceaccounts")

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ALGORITHM = "ES256"
CLAIMS = "kubernetes.io"


class KeyFileError(RuntimeError):
    """The signing key file exists but cannot be used."""


@dataclass(frozen=True)
class SigningKey:
    private: ec.EllipticCurvePrivateKey
    kid: str  # the key's id in token headers and the JWKS: a digest of the public key

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        if path.exists():
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (ValueError, TypeError, OSError) as e:
                raise KeyFileError(f"service account signing key {path} is unreadable or corrupt: {e}") from e
            if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
                raise KeyFileError(f"service account signing key {path} is not an ECDSA P-256 key")
            return cls(key, _kid(key))
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, path)
        return cls(key, _kid(key))

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def _kid(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class BoundPod:
    name: str
    uid: str


class TokenIssuer:
    def __init__(self, key: SigningKey, issuer: str = DEFAULT_ISSUER, now: Callable[[], float] = time.time) -> None:
        self.key = key
        self.issuer = issuer
        self.now = now

    @property
    def api_audiences(self) -> list[str]:
        """The audiences the API server itself accepts (kube-apiserver's default: the issuer)."""
        return [self.issuer]

    def issue(self, namespace: str, name: str, uid: str, audiences: Sequence[str], expiration_seconds: int,
              pod: BoundPod | None = None) -> tuple[str, int]:
        """(token, expiry as Unix time)."""
        iat = int(self.now())
        exp = iat + expiration_seconds
        private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
        if pod is not None:
            private["pod"] = {"name": pod.name, "uid": pod.uid}
        claims = {"iss": self.issuer, "sub": rbac.service_account_username(namespace, name), "aud": list(audiences),
                  "exp": exp, "iat": iat, "nbf": iat, "jti": str(uuid.uuid4()), CLAIMS: private}
        return jwt.encode(claims, self.key.private, algorithm=ALGORITHM, headers={"kid": self.key.kid}), exp

    def openid_configuration(self, jwks_uri: str) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": jwks_uri, "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": [ALGORITHM]}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.jwk()]}


class ServiceAccountTokenAuthenticator:
    """The `Authenticator` of tokens `TokenIssuer` signed. Every refusal is a plain 401 (the reason
    goes to the debug log only: it would tell a forger what to fix)."""

    def __init__(self, issuer: TokenIssuer, index: UidIndex) -> None:
        self.issuer = issuer
        self.index = index

    def authenticate(self, token: str | None) -> UserInfo:
        try:
            return self._verify(token or "")
        except (jwt.PyJWTError, _Invalid, KeyError, TypeError, ValueError) as e:
            log.debug("service account token refused", extra={"reason": str(e)})
            raise Unauthorized("Unauthorized") from None

    def _verify(self, token: str) -> UserInfo:
        key = self.issuer.key.private.public_key()
        # Times are checked below against the issuer's clock (tests move it); everything else here.
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=self.issuer.api_audiences, issuer=self.issuer.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False})
        now = self.issuer.now()
        if now >= int(claims["exp"]):
            raise _Invalid("token has expired")
        if now < int(claims.get("nbf", claims["iat"])):
            raise _Invalid("token is not valid yet")
        private = claims[CLAIMS]
        namespace, sa = str(private["namespace"]), private["serviceaccount"]
        name, uid = str(sa["name"]), str(sa["uid"])
        if claims["sub"] != rbac.service_account_username(namespace, name):
            raise _Invalid("sub does not match the kubernetes.io claims")
        if self.index.uid(SERVICEACCOUNTS, namespace, name) != uid:
            raise _Invalid(f"service account {namespace}/{name} (uid {uid}) no longer exists")
        pod = private.get("pod")
        if pod is not None and self.index.uid(PODS, namespace, str(pod["name"])) != str(pod["uid"]):
            raise _Invalid(f"pod {namespace}/{pod['name']} the token is bound to no longer exists")
        groups = (*rbac.service_account_groups(namespace), AUTHENTICATED_GROUP)
        return UserInfo(rbac.service_account_username(namespace, name), groups, uid=uid)


class _Invalid(Exception):
    pass
