"""The API server process: TLS listener, authentication, routing to discovery and resource handlers.

`APIServer` can run inside tests or inside `podfleet up` next to other components, and it writes
the admin kubeconfig on start so kubectl works at once.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from podfleet.api.errors import (
    APIError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    from_status,
)
from podfleet.api.resources import CREATE_ONLY, METRICS, NAMESPACES, NODES, PODS, SERVICEACCOUNTS
from podfleet.apiserver import audit, discovery, impersonation, openapi
from podfleet.apiserver.audit import AuditLog
from podfleet.apiserver.auth import (
    Authenticator,
    Authorizer,
    AuthorizerChain,
    NodeAuthorizer,
    RequestAttributes,
    TokenAuthenticator,
    TokenFile,
    UserInfo,
)
from podfleet.apiserver.bootstrap import (
    KUBERNETES_SERVICE_NAMES,
    ensure_default_rbac,
    ensure_kubernetes_service,
    ensure_system_namespaces,
    ensure_system_priority_classes,
)
from podfleet.apiserver.connections import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_READ_HEADER_TIMEOUT,
    TRIM_AFTER_CLOSED,
    TRIM_DELAY,
    GuardedListener,
    MemoryTrimmer,
    connection_cap,
    raise_nofile_limit,
)
from podfleet.apiserver.handlers import ResourceHandlers
from podfleet.apiserver.inflight import (
    DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT,
    DEFAULT_MAX_REQUESTS_INFLIGHT,
    InflightLimiter,
    classify,
)
from podfleet.apiserver.kubeletproxy import KubeletClient
from podfleet.apiserver.list_cache import validate_watch_options
from podfleet.apiserver.metrics_api import SCRAPE_INTERVAL, ResourceMetrics
from podfleet.apiserver.negotiation import decode_body, encode_response, parse_accept, read_body
from podfleet.apiserver.node_graph import NodeGraph
from podfleet.apiserver.nodelogs import NodeLogs
from podfleet.apiserver.podstreams import PodStreams
from podfleet.apiserver.prometheus import CONTENT_TYPE_LATEST, APIServerMetrics, current_series
from podfleet.apiserver.rbac.authorizer import RBACAuthorizer
from podfleet.apiserver.rbac.guard import EscalationGuard
from podfleet.apiserver.reviews import Reviews
from podfleet.apiserver.routing import (
    CONNECT_SUBRESOURCES,
    RequestInfo,
    parse_resource_path,
    selector_name,
    watch_requested,
)
from podfleet.apiserver.service_alloc import DEFAULT_NODE_PORTS, DEFAULT_SERVICE_CIDR, ServiceAllocator
from podfleet.apiserver.serviceaccount_admission import ServiceAccountAdmission
from podfleet.apiserver.serviceaccount_tokens import ServiceAccountTokenAuthenticator, SigningKey, TokenIssuer
from podfleet.apiserver.store import Store
from podfleet.apiserver.token_request import create_token
from podfleet.apiserver.uid_index import UidIndex
from podfleet.clock import Clock, RealClock
from podfleet.kubeconfig import build_kubeconfig, write_kubeconfig
from podfleet.pki import PKI, default_hosts, ensure_pki
from podfleet.storage.encrypted import EncryptingStorage, Keyring, keyring_for
from podfleet.storage.factory import open_storage
from podfleet.storage.instrumented import InstrumentedStorage
from podfleet.storage.interface import Storage
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.apiserver")
_PUBLIC = ("/healthz", "/livez", "/readyz", "/version")
_METRICS_PATH = "/metrics"
_NODE_PROXY_PATHS = ("/metrics", "/stats/summary", "/healthz")
_OPENID_CONFIGURATION, _JWKS = "/.well-known/openid-configuration", "/openid/v1/jwks"
# Connections the kernel queues before the server accepts them; a storm beyond it gets its SYNs
# dropped (and retried by the clients) instead of piling up.
_LISTEN_BACKLOG = 1024
# How long start waits for the RBAC policy, the uid index and the node graph to be read before it
# gives up (all are reads of the local storage).
_SYNC_TIMEOUT = 60.0


@dataclass
class ServerConfig:
    data_dir: Path = Path("/var/lib/podfleet")
    bind_address: str = "0.0.0.0"
    port: int = 6443
    storage_url: str = ""  # default: sqlite:///<data_dir>/state.db
    # Where pods reach the server: the `kubernetes` Service's endpoint (kube-apiserver's --advertise-address).
    advertise_address: str = "127.0.0.1"
    # Host in the kubeconfigs the server writes; empty: the advertise address.
    kubeconfig_address: str = ""
    # Listen on these too; they need not exist yet (a bridge made later), so they are bound with IP_FREEBIND.
    extra_bind_addresses: list[str] = field(default_factory=list)
    extra_sans: list[str] = field(default_factory=list)
    compact_interval: float = 300.0
    default_toleration_seconds: int = 300
    # Requests served at once, reads and writes counted apart; watches and log/exec/attach/
    # port-forward/proxy are not counted. 0 = no limit. kube-apiserver's flags and defaults.
    max_requests_inflight: int = DEFAULT_MAX_REQUESTS_INFLIGHT
    max_mutating_requests_inflight: int = DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT
    # Seconds a connection has for its TLS handshake plus first request head (and each later request
    # head, from its first byte), and seconds a kept-alive connection may wait for its next request.
    read_header_timeout: float = DEFAULT_READ_HEADER_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    metric_resolution: float = SCRAPE_INTERVAL  # seconds between scrapes of the agents' resource usage
    # Open connections at most; 0 = the open-files limit less a reserve for storage and clients.
    max_connections: int = 0
    # Where Services' cluster IPs and node ports come from (kube-apiserver's flags and defaults).
    service_cluster_ip_range: str = DEFAULT_SERVICE_CIDR
    service_node_port_range: tuple[int, int] = DEFAULT_NODE_PORTS
    # The audit log (kube-apiserver's --audit-log-* flags): None = <data_dir>/audit.log, "-" = standard
    # output, "" = none; rotated past maxsize MiB (0: never), maxbackup old files kept; reads too with
    # audit_reads (writes are always logged).
    audit_log_path: str | None = None
    audit_log_maxsize: int = 100
    audit_log_maxbackup: int = 10
    audit_reads: bool = False
    # kube-apiserver's --disable-admission-plugins; only "ServiceAccount" may be named.
    disable_admission_plugins: tuple[str, ...] = ()

    def resolved_storage_url(self) -> str:
        return self.storage_url or f"sqlite://{self.data_dir / 'state.db'}"


class APIServer:
    def __init__(self, config: ServerConfig, *, storage: Storage | None = None, clock: Clock | None = None,
                 node_logs: NodeLogs | None = None, authenticator: Authenticator | None = None,
                 authorizer: Authorizer | None = None) -> None:
        self.config = config
        self.clock = clock or RealClock()
        # This server's Prometheus registry (not the process-wide default: a process may run several
        # servers), served at /metrics; every storage call is timed into it.
        self.metrics_registry = CollectorRegistry()
        self.storage_backend = storage or open_storage(config.resolved_storage_url())
        # Secrets AES-GCM encrypted at rest with the data dir's keyring (made on first start)
        self.keyring = Keyring(keyring_for(config.data_dir))
        self.storage: Storage = InstrumentedStorage(EncryptingStorage(self.storage_backend, self.keyring),
                                                    self.metrics_registry)
        self.store = Store(self.storage, self.clock,
                           default_toleration_seconds=config.default_toleration_seconds,
                           service_allocator=ServiceAllocator(self.storage, config.service_cluster_ip_range,
                                                              config.service_node_port_range),
                           service_accounts=None if "ServiceAccount" in config.disable_admission_plugins
                           else ServiceAccountAdmission())
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.tokens = TokenFile.load_or_create(config.data_dir / "tokens.json")
        # ServiceAccount tokens: signed with the data dir's key, valid while their ServiceAccount
        # (and bound pod) exist, which `uid_index` answers from memory.
        self.token_issuer = TokenIssuer(SigningKey.load_or_create(config.data_dir / "service-account.key"))
        self.uid_index = UidIndex(self.store, (SERVICEACCOUNTS, PODS), clock=self.clock)
        # What each node's pods reference: the only Secrets, ConfigMaps and ServiceAccounts it may read.
        self.node_graph = NodeGraph(self.store, clock=self.clock)
        self.authenticator = authenticator or TokenAuthenticator(
            self.tokens, fallback=ServiceAccountTokenAuthenticator(self.token_issuer, self.uid_index))
        # Who may do what: system:masters, then the node rules, then RBAC (kube-apiserver's
        # --authorization-mode=Node,RBAC); the first to allow wins.
        self.rbac = RBACAuthorizer(self.store, clock=self.clock)
        self.authorizer_chain = AuthorizerChain(NodeAuthorizer(self.node_graph), self.rbac)
        self.authorizer: Authorizer = authorizer or self.authorizer_chain
        self.store.set_escalation_check(EscalationGuard(self.store, self.authorizer_chain.allows))
        self.reviews = Reviews(self.authenticator, self.authorizer_chain.decide, self.rbac.rules_for)
        # The API server's own client certificate (issued with the PKI on start) is what node agents accept.
        pki_dir = config.data_dir / "pki"
        kubelet = KubeletClient(pki_dir / "apiserver-kubelet-client.crt", pki_dir / "apiserver-kubelet-client.key")
        self.handlers = ResourceHandlers(self.store, self.clock, node_logs or kubelet)
        self.kubelet = kubelet
        self.pod_streams = PodStreams(self.store, kubelet)
        self.resource_metrics = ResourceMetrics(self.store, kubelet, self.clock, config.metric_resolution)
        self.inflight = InflightLimiter(config.max_requests_inflight, config.max_mutating_requests_inflight)
        self.metrics = APIServerMetrics(self.inflight, self.metrics_registry)
        self.audit = AuditLog.from_config(config.data_dir, config.audit_log_path, config.audit_log_maxsize,
                                          config.audit_log_maxbackup, config.audit_reads, self.metrics_registry)
        self.pki: PKI | None = None
        self._runner: web.AppRunner | None = None
        self.listeners: list[GuardedListener] = []
        # Watches and streams being served: ended at once on stop (as kube-apiserver's default
        # --shutdown-watch-termination-grace-period of 0), where short requests may finish.
        self._long_running: set[asyncio.Task[Any]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.port = config.port

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host = self.config.kubeconfig_address or self.config.advertise_address
        return f"https://{_host_for_url(host)}:{self.port}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.config.data_dir / "admin.kubeconfig"

    async def start(self) -> None:
        self.audit.start()
        await self.storage.start()
        await self.keyring.open(self.storage_backend)
        await ensure_system_namespaces(self.store)
        await ensure_system_priority_classes(self.store)
        rbac_done = await ensure_default_rbac(self.store)
        log.debug("default RBAC policy reconciled", extra={"changes": {k: v for k, v in rbac_done.items()
                                                                      if v != "none"}})
        self.rbac.start()
        self.uid_index.start()
        self.node_graph.start()
        await self.rbac.wait_synced(_SYNC_TIMEOUT)  # nobody but masters is allowed before that
        await self.uid_index.wait_synced(_SYNC_TIMEOUT)  # nor any ServiceAccount token accepted
        await self.node_graph.wait_synced(_SYNC_TIMEOUT)  # nor a node any of its pods' Secrets
        # In-cluster clients reach the server as the `kubernetes` Service: its names and cluster IP.
        hosts = default_hosts([self.config.advertise_address, self.config.kubeconfig_address,
                               *self.config.extra_bind_addresses, *self.config.extra_sans,
                               *KUBERNETES_SERVICE_NAMES, self.store.service_allocator.first_ip])
        self.pki = await asyncio.to_thread(ensure_pki, self.config.data_dir / "pki", hosts)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        self._runner = web.AppRunner(self.build_app(), handler_cancellation=True, access_log=None)
        await self._runner.setup()
        assert self._runner.server is not None
        nofile = raise_nofile_limit()
        max_connections = connection_cap(self.config.max_connections, nofile)
        trimmer = MemoryTrimmer(TRIM_AFTER_CLOSED, TRIM_DELAY)
        for i, host in enumerate([self.config.bind_address, *self.config.extra_bind_addresses]):
            listener = GuardedListener(
                self._runner.server, host=host, port=self.port, ssl_context=ctx, backlog=_LISTEN_BACKLOG,
                max_connections=max_connections, read_header_timeout=self.config.read_header_timeout,
                idle_timeout=self.config.idle_timeout, trimmer=trimmer, freebind=i > 0)
            await listener.start()
            self.listeners.append(listener)
            self.port = listener.port  # the first one's, when asked for any free port
        await self.store.service_allocator.repair()  # nothing is being written yet: leftovers are leaks
        await ensure_kubernetes_service(self.store, self.config.advertise_address, self.port)
        self.write_admin_kubeconfig()
        self.resource_metrics.start()
        compact = getattr(self.storage_backend, "run_compactor", None)
        if compact is not None and self.config.compact_interval > 0:
            self._tasks.append(asyncio.create_task(compact(self.config.compact_interval)))
        log.info("API server listening", extra={"url": self.url, "kubeconfig": str(self.kubeconfig_path),
                                                "storage": _redact(self.config.resolved_storage_url()),
                                                "max_connections": max_connections, "nofile": nofile})

    def build_app(self) -> web.Application:
        """The aiohttp application (errors, in-flight limit, dispatch), without a listener."""
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._errors])
        app.on_response_prepare.append(self.audit.on_response_prepare)  # Audit-Id on every response
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    def write_admin_kubeconfig(self) -> None:
        assert self.pki is not None
        write_kubeconfig(self.kubeconfig_path, build_kubeconfig(self.url, self.pki.ca_pem(), "admin",
                                                                self.tokens.admin))

    def node_kubeconfig(self, node: str, server_url: str | None = None) -> dict[str, Any]:
        """A kubeconfig for a node agent, with that node's own credential (created on first use)."""
        assert self.pki is not None
        return build_kubeconfig(server_url or self.url, self.pki.ca_pem(), f"system:node:{node}",
                                self.tokens.node_token(node))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        for listener in self.listeners:
            await listener.stop()
        self.listeners.clear()
        for task in list(self._long_running):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.resource_metrics.stop()
        await self.rbac.stop()
        await self.uid_index.stop()
        await self.node_graph.stop()
        await self.audit.stop()
        await self.storage.close()

    # ------------------------------------------------------------------ HTTP
    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every error as a Status, and every request counted and timed once with its final code (0
        when the client went away before an answer, as kube-apiserver reports a response never written)."""
        started = time.perf_counter()
        series_token = current_series.set(None)
        code = 0
        audited = self.audit.begin(request)
        error: APIError | None = None
        try:
            resp: web.StreamResponse = await handler(request)
            code = resp.status
            audited.response = resp
            return resp
        except APIError as e:
            if e.code >= 500:
                log.error("request failed", extra={"method": request.method, "path": request.path,
                                                   "error": str(e)})
            code, error = e.code, e
            return _status_response(e)
        except web.HTTPException as e:
            if e.status < 400:
                code = e.status
                raise
            err = _http_exception_error(request, e)
            code, error = err.code, err
            return _status_response(err)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            # The exception's text can name files, objects or data of other users: it goes to the log
            # only, and the client gets an id to quote that finds the log line.
            request_id = uuid.uuid4().hex
            log.exception("unhandled error", extra={"method": request.method, "path": request.path,
                                                    "request_id": request_id})
            code, error = 500, InternalError(f"Internal error occurred: request {request_id}")
            return _status_response(error)
        finally:
            series = current_series.get()
            current_series.reset(series_token)
            if series is None:  # not a resource request, or failed before its resource was known
                series = self.metrics.nonresource_series(request.method, "/" + request.path.strip("/"), code)
            series.observe(code, time.perf_counter() - started)
            self.audit.complete(request, audited, code, error)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.path.strip("/")
        if path in _PUBLIC or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            if path == "/version":
                return encode_response(discovery.version_info())
            if path == "/readyz" or path.startswith("/readyz/"):
                checks = {"ping": None, **({"audit-log": self.audit.check()} if self.audit.running else {})}
                return audit.readyz(path, request.query, checks)
            return web.Response(text="ok")
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        user = self.authenticator.authenticate(token)
        audit.note_user(request, user)
        if impersonation.requested(request.headers):
            user = impersonation.impersonate(request.headers, user, self.authorizer)
            audit.note_user(request, user, impersonated=True)
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 3 and (parts[0] == "api" or (parts[0] == "apis" and len(parts) >= 4)):
            # resource requests are counted in _resource, once their verb and subresource are known
            return await self._dispatch_authenticated(request, user, path, parts)
        # discovery and OpenAPI documents: reads, counted as kube-apiserver counts them
        with self.inflight.admit(classify("get", "", user.groups)):
            return await self._dispatch_authenticated(request, user, path, parts)

    async def _dispatch_authenticated(self, request: web.Request, user: UserInfo, path: str,
                                      parts: list[str]) -> web.StreamResponse:
        if not parts:
            self._authorize_nonresource(request, user, path)
            return encode_response({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/metrics",
                                              "/readyz", "/version", "/openapi/v2", "/openapi/v3"]})
        if parts[0] == "openapi":
            self._authorize_nonresource(request, user, path)
            return openapi.handle(request, parts)
        if (parts[0] == "api" and len(parts) <= 2) or (parts[0] == "apis" and len(parts) <= 3):
            # discovery documents are non-resource requests (system:discovery grants them)
            self._authorize_nonresource(request, user, path)
        if path == _METRICS_PATH:
            # Prometheus' scrape: system:monitoring (and cluster-admin) may `get` it
            self._authorize_nonresource(request, user, path)
            return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
        if parts[0] == "api":
            if len(parts) == 1:
                return encode_response(discovery.core_versions(f"{self.config.advertise_address}:{self.port}"))
            if parts[1] != "v1":
                raise NotFound("the server could not find the requested resource")
            if len(parts) == 2:
                return encode_response(discovery.resource_list("", "v1"))
            return await self._resource(request, user, ["", "v1", *parts[2:]])
        if parts[0] == "apis":
            if len(parts) == 1:
                return encode_response(discovery.group_list())
            if len(parts) == 2:
                grp = discovery.group(parts[1])
                if grp is None:
                    raise NotFound("the server could not find the requested resource")
                return encode_response(grp)
            if len(parts) == 3:
                rl = discovery.resource_list(parts[1], parts[2])
                if not rl["resources"]:
                    raise NotFound("the server could not find the requested resource")
                return encode_response(rl)
            return await self._resource(request, user, [parts[1], parts[2], *parts[3:]])
        if path in (_OPENID_CONFIGURATION, _JWKS):
            # Service account issuer discovery, for systems outside that verify tokens themselves.
            self._authorize_nonresource(request, user, path)
            if path == _JWKS:
                return web.json_response(self.token_issuer.jwks(), content_type="application/jwk-set+json")
            return web.json_response(self.token_issuer.openid_configuration(self.url + _JWKS))
        raise NotFound("the server could not find the requested resource")

    def _authorize_nonresource(self, request: web.Request, user: UserInfo, path: str) -> None:
        """A non-resource request's verb is its HTTP method, lowercased (kube-apiserver's RequestInfo)."""
        self.authorizer.authorize(RequestAttributes(user, request.method.lower(), path=path))

    async def _resource(self, request: web.Request, user: UserInfo, parts: list[str]) -> web.StreamResponse:
        if request.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise MethodNotAllowed(f"method {request.method} is not allowed")
        watch = watch_requested(request.query)
        info = parse_resource_path(parts, request.method, watch)
        series = self.metrics.resource_series(request.method, info, parts[1], request.content_type,
                                              request.query_string)
        current_series.set(series)  # counted by `_errors` with its final code, 429 included
        # A namespace's own requests are in that namespace (kube-apiserver's RequestInfo), so a
        # RoleBinding there can grant reading it.
        namespace = info.name if info.resource is NAMESPACES else info.namespace
        # A list or watch of one object by `fieldSelector=metadata.name=` is authorized as of that
        # object (kube-apiserver's RequestInfo), as the Node authorizer needs to allow it.
        name = info.name or (selector_name(request.query) if info.verb in ("list", "watch") else "")
        with self.inflight.admit(classify(info.verb, info.subresource, user.groups)):
            self.authorizer.authorize(RequestAttributes(user, info.verb, info.resource.plural,
                                                        info.resource.group, namespace, name,
                                                        info.subresource, request.path))
            if info.verb == "watch":
                validate_watch_options(request.query)
            if info.verb in ("update", "patch") and not info.name:
                # PUT or PATCH on a collection (/api/v1/secrets, /api/v1/namespaces/ns/pods): Kubernetes
                # serves neither verb there
                raise MethodNotAllowed("the server does not allow this method on the requested resource")
            if not series.long_running:
                return await self._serve_resource(request, user, info)
            task = asyncio.current_task()
            assert task is not None
            self._long_running.add(task)
            try:
                with series.open():  # watches and streams: apiserver_longrunning_requests while open
                    return await self._serve_resource(request, user, info)
            finally:
                self._long_running.discard(task)

    async def _serve_resource(self, request: web.Request, user: UserInfo,
                              info: RequestInfo) -> web.StreamResponse:
        """An admitted, authorized resource request, to the handler of its resource and subresource."""
        if info.resource in CREATE_ONLY:
            if info.verb != "create" or info.name:
                raise MethodNotAllowed("the server does not allow this method on the requested resource")
            return await self.reviews.handle(request, info, user)
        if info.resource is SERVICEACCOUNTS and info.subresource == "token":
            if info.verb != "create":
                raise MethodNotAllowed("the server does not allow this method on the requested resource")
            body = await decode_body(await read_body(request), request.content_type)
            issued = await create_token(self.store, self.token_issuer, info.namespace, info.name, body,
                                        node=user.node_name)
            return encode_response(issued, 201, parse_accept(request.headers.get("Accept", "")))
        if info.resource in METRICS:
            return await self.resource_metrics.handle(request, info)
        if info.resource is PODS and info.subresource in CONNECT_SUBRESOURCES:
            return await self.pod_streams.handle(request, info)
        if info.resource is NODES and info.subresource == "proxy":
            return await self._node_proxy(request, info)
        return await self.handlers.handle(request, info, user)

    async def _node_proxy(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        """`nodes/<name>/proxy/<path>`: a read of the node agent's own endpoints (its metrics, usage
        summary, health), as kube-apiserver proxies to kubelets; authorized as `nodes/proxy`."""
        if request.method != "GET":
            raise MethodNotAllowed(f"method {request.method} is not allowed on nodes/proxy")
        path = "/" + request.path.split("/proxy", 1)[1].lstrip("/")
        if path not in _NODE_PROXY_PATHS:
            raise NotFound(f"the node agent serves {', '.join(_NODE_PROXY_PATHS)} through the proxy")
        node = await self.store.get(NODES, "", info.name)
        content_type, body = await self.kubelet.get(node, path)
        return web.Response(body=body, headers={"Content-Type": content_type})


# The methods the API serves (HEAD is answered as GET by aiohttp's router; every other method is
# refused with 405 in `_resource`).
_SERVED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


def _http_exception_error(request: web.Request, e: web.HTTPException) -> APIError:
    """aiohttp's own HTTP errors (the router's 404 for a request target it cannot route, such as a
    CONNECT's authority form; 413 past client_max_size) as the Status kube-apiserver answers."""
    if e.status == 413:
        return RequestEntityTooLarge("Request entity too large")
    if e.status == 405 or (e.status == 404 and request.method not in _SERVED_METHODS):
        return MethodNotAllowed(f"method {request.method} is not allowed")
    if e.status == 404:
        return NotFound("the server could not find the requested resource")
    return from_status(e.status, {"message": e.reason})


def _status_response(e: APIError) -> web.Response:
    resp = encode_response(e.to_status(), e.code)
    if e.code == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="podfleet"'
    if e.retry_after is not None:
        resp.headers["Retry-After"] = str(e.retry_after)
    return resp


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _redact(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url
