"""ServiceAccount tokens: issued by TokenRequest, verified by the authenticator (signature, issuer,
audience, times, the ServiceAccount and bound pod still there with the same uid), the key file."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from podfleet.api.errors import BadRequest, Conflict, Invalid, NotFound, Unauthorized
from podfleet.api.resources import NAMESPACES, PODS, SERVICEACCOUNTS
from podfleet.apiserver.serviceaccount_tokens import (
    KeyFileError,
    ServiceAccountTokenAuthenticator,
    SigningKey,
    TokenIssuer,
)
from podfleet.apiserver.store import DeleteOptions, Store, WriteOptions
from podfleet.apiserver.token_request import create_token
from podfleet.apiserver.uid_index import UidIndex
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage
from wait_helpers import eventually


class Now:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


Env = tuple[Store, TokenIssuer, ServiceAccountTokenAuthenticator, Now]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    s = MemoryStorage()
    await s.start()
    store = Store(s, FakeClock())
    await store.create(NAMESPACES, "", {"metadata": {"name": "team"}}, WriteOptions())
    await store.create(SERVICEACCOUNTS, "team", {"metadata": {"name": "bot"}}, WriteOptions())
    await store.create(PODS, "team", {"metadata": {"name": "p"}, "spec": {
        "serviceAccountName": "bot", "containers": [{"name": "c", "image": "i"}]}}, WriteOptions())
    now = Now()
    issuer = TokenIssuer(SigningKey.load_or_create(tmp_path / "sa.key"), now=now)
    index = UidIndex(store, (SERVICEACCOUNTS, PODS))
    index.start()
    await index.wait_synced(5)
    yield store, issuer, ServiceAccountTokenAuthenticator(issuer, index), now
    await index.stop()
    await s.close()


def refused(auth: ServiceAccountTokenAuthenticator, token: str) -> bool:
    try:
        auth.authenticate(token)
    except Unauthorized:
        return True
    return False


async def test_a_requested_token_authenticates_as_its_service_account(env: Env) -> None:
    store, issuer, auth, now = env
    req = await create_token(store, issuer, "team", "bot", {"spec": {}})
    assert req["spec"]["expirationSeconds"] == 3600 and req["spec"]["audiences"] == issuer.api_audiences
    user = auth.authenticate(req["status"]["token"])
    sa = await store.get(SERVICEACCOUNTS, "team", "bot")
    assert user.name == "system:serviceaccount:team:bot" and user.uid == sa["metadata"]["uid"]
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated")
    claims = jwt.decode(req["status"]["token"], options={"verify_signature": False})
    assert claims["kubernetes.io"] == {"namespace": "team", "serviceaccount": {"name": "bot",
                                                                               "uid": sa["metadata"]["uid"]}}
    assert claims["exp"] - claims["iat"] == 3600 and claims["iss"] == issuer.issuer
    now.t += 3600
    assert refused(auth, req["status"]["token"])  # expired


async def test_tampered_unsigned_foreign_and_wrong_audience_tokens_are_refused(env: Env) -> None:
    store, issuer, auth, _now = env
    token = (await create_token(store, issuer, "team", "bot", {"spec": {}}))["status"]["token"]
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["kubernetes.io"]["serviceaccount"]["name"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert refused(auth, f"{header}.{forged}.{sig}")
    assert refused(auth, jwt.encode(claims, None, algorithm="none"))
    assert refused(auth, jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"))
    other = await create_token(store, issuer, "team", "bot", {"spec": {"audiences": ["vault"]}})
    assert refused(auth, other["status"]["token"])
    assert refused(auth, "not-a-jwt")
    assert not refused(auth, token)


async def test_deleting_the_service_account_or_bound_pod_revokes(env: Env) -> None:
    store, issuer, auth, _now = env
    bound = await create_token(store, issuer, "team", "bot", {"spec": {"boundObjectRef": {
        "kind": "Pod", "apiVersion": "v1", "name": "p"}}})
    pod = await store.get(PODS, "team", "p")
    assert bound["spec"]["boundObjectRef"]["uid"] == pod["metadata"]["uid"]
    plain = (await create_token(store, issuer, "team", "bot", {"spec": {}}))["status"]["token"]
    auth.authenticate(bound["status"]["token"])
    await store.delete(PODS, "team", "p", DeleteOptions())
    await eventually(lambda: refused(auth, bound["status"]["token"]))
    assert not refused(auth, plain)
    await store.delete(SERVICEACCOUNTS, "team", "bot", DeleteOptions())
    await eventually(lambda: refused(auth, plain))
    # the same name again is another ServiceAccount: the old tokens stay refused
    await store.create(SERVICEACCOUNTS, "team", {"metadata": {"name": "bot"}}, WriteOptions())
    await asyncio.sleep(0.05)
    assert refused(auth, plain)


async def test_token_request_validation(env: Env) -> None:
    store, issuer, _auth, _now = env
    with pytest.raises(Invalid, match="less than 10 minutes"):
        await create_token(store, issuer, "team", "bot", {"spec": {"expirationSeconds": 599}})
    with pytest.raises(NotFound):
        await create_token(store, issuer, "team", "nobody", {"spec": {}})
    with pytest.raises(NotFound):
        await create_token(store, issuer, "team", "bot", {"spec": {"boundObjectRef": {"kind": "Pod", "name": "x"}}})
    with pytest.raises(Conflict):
        await create_token(store, issuer, "team", "bot", {"spec": {"boundObjectRef": {
            "kind": "Pod", "name": "p", "uid": "other"}}})
    with pytest.raises(Invalid, match="Unsupported value"):
        await create_token(store, issuer, "team", "bot", {"spec": {"boundObjectRef": {"kind": "Node", "name": "n"}}})
    await store.create(SERVICEACCOUNTS, "team", {"metadata": {"name": "other"}}, WriteOptions())
    with pytest.raises(BadRequest, match="different serviceaccount"):
        await create_token(store, issuer, "team", "other", {"spec": {"boundObjectRef": {"kind": "Pod", "name": "p"}}})


def test_the_key_is_kept_and_a_corrupt_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "sa.key"
    first = SigningKey.load_or_create(path)
    assert SigningKey.load_or_create(path).kid == first.kid
    assert path.stat().st_mode & 0o777 == 0o600
    jwk = TokenIssuer(first).jwks()["keys"][0]
    assert jwk["kid"] == first.kid and jwk["alg"] == "ES256" and jwk["kty"] == "EC" and "d" not in jwk
    path.write_text("garbage")
    with pytest.raises(KeyFileError, match=str(path)):
        SigningKey.load_or_create(path)
