"""The API server's Prometheus metrics, under kube-apiserver's names and labels, served at `/metrics`.

Dashboards and alerts written for kube-apiserver (kubernetes-mixin, kube-prometheus) then work as they
are. The labels follow kube-apiserver's endpoints/metrics package:

- `verb` is the HTTP method as kube-apiserver reports it: GET, or LIST for a GET of a collection;
  WATCH for a watch (`?watch=1` or the legacy /watch/ paths); POST, PUT, PATCH, or APPLY for a
  server-side apply patch; DELETE (a collection's too, told apart by its scope); CONNECT for the
  log, exec, attach, portforward and proxy subresources; `other` for anything else.
- `scope` is `resource` for a request naming an object (and every POST), `namespace` for a collection
  in one namespace, `cluster` for a cluster-scoped or all-namespaces collection, and "" for
  non-resource requests, whose path goes in `subresource` (only for paths that exist, so a client
  cannot add a series per made-up URL).

Every server has a registry of its own, not prometheus_client's global one: tests run many servers in
one process. The hot path looks series up in dicts keyed by their label values; prometheus_client's
own `labels()` (validation, a lock) runs once per series.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import parse_qs

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from podfleet.apiserver.inflight import InflightLimiter, RequestKind
from podfleet.apiserver.routing import RequestInfo

__all__ = ["CONTENT_TYPE_LATEST", "APIServerMetrics", "RequestSeries", "current_series"]

COMPONENT = "apiserver"
# kube-apiserver's buckets for apiserver_request_duration_seconds.
REQUEST_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
                   10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
# kube-apiserver's validConnectRequests: these subresources are reported as CONNECT.
CONNECT_VERB_SUBRESOURCES = frozenset({"log", "exec", "portforward", "attach", "proxy"})
# kube-apiserver's validRequestMethods; any other method is reported as "other".
VALID_VERBS = frozenset({"APPLY", "CONNECT", "CREATE", "DELETE", "DELETECOLLECTION", "GET", "LIST", "PATCH",
                         "POST", "PROXY", "PUT", "UPDATE", "WATCH", "WATCHLIST"})
APPLY_PATCH = "application/apply-patch+yaml"
# Non-resource paths that are always labelled with their path, whatever the answer (a 403 on /metrics
# is worth seeing). Other paths are labelled only when they were served (< 400): those exist, so there
# are boundedly many; the rest share subresource="".
_KNOWN_PATHS = frozenset({"/", "/api", "/api/v1", "/apis", "/version", "/healthz", "/livez", "/readyz", "/metrics",
                          "/openapi/v2", "/openapi/v3", "/.well-known/openid-configuration", "/openid/v1/jwks"})
# Any /healthz/<anything> is answered: collapsed onto its root so it cannot add series.
_HEALTH_PREFIXES = ("/healthz/", "/livez/", "/readyz/")
_LONG_RUNNING_VERBS = frozenset({"WATCH", "CONNECT"})
_WITH_CREATED = frozenset({"counter", "histogram", "summary"})

# The series of the request being served, set once its verb and resource are known; read back by the
# error middleware, which sees the final status. Both run in the request's task.
current_series: ContextVar[RequestSeries | None] = ContextVar("podfleet_request_series", default=None)


class RequestSeries:
    """The metric children of one (verb, dry_run, group, version, resource, subresource, scope)."""

    __slots__ = ("_codes", "_counter", "_duration", "_longrunning", "labels", "long_running")

    def __init__(self, metrics: APIServerMetrics, labels: tuple[str, ...], long_running: bool) -> None:
        self.labels = labels
        self._counter = metrics.requests
        self._codes: dict[int, Counter] = {}
        self._duration = metrics.durations.labels(*labels, COMPONENT)
        # apiserver_longrunning_requests has no dry_run label
        self._longrunning = metrics.longrunning.labels(*labels[0:1], *labels[2:], COMPONENT) if long_running else None
        self.long_running = long_running

    def observe(self, code: int, seconds: float) -> None:
        child = self._codes.get(code)
        if child is None:
            child = self._codes[code] = self._counter.labels(*self.labels, COMPONENT, str(code))
        child.inc()
        self._duration.observe(seconds)

    @contextmanager
    def open(self) -> Iterator[None]:
        """Count the request in apiserver_longrunning_requests while the block runs (watches, streams)."""
        gauge = self._longrunning
        if gauge is None:
            yield
            return
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()


class _InflightCollector(Collector):
    """Reads the in-flight limiter at scrape time: the request path pays nothing for these."""

    def __init__(self, limiter: InflightLimiter) -> None:
        self._limiter = limiter

    def collect(self) -> Iterable[Metric]:
        inflight = GaugeMetricFamily("apiserver_current_inflight_requests",
                                     "Number of requests currently being served, per request kind "
                                     "(long-running requests are not counted).", labels=["request_kind"])
        dropped = CounterMetricFamily("apiserver_dropped_requests",
                                      "Number of requests dropped with 'Try again later' response (429), "
                                      "per request kind.", labels=["request_kind"])
        for kind, label in ((RequestKind.READONLY, "readOnly"), (RequestKind.MUTATING, "mutating")):
            inflight.add_metric([label], self._limiter.inflight(kind))
            dropped.add_metric([label], self._limiter.rejected[kind])
        return [inflight, dropped]


class _WithoutCreated(Collector):
    """The registry without the `<name>_created` sample prometheus_client adds beside every counter and
    histogram child: kube-apiserver exposes none, and they are a third of a scrape. (prometheus_client's
    own switch is process-wide: it would change the node agent's metrics in `podfleet up` too.)"""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self._registry.collect():
            if metric.type in _WITH_CREATED:
                created = metric.name + "_created"
                metric.samples = [s for s in metric.samples if s.name != created]
            yield metric


class APIServerMetrics:
    """The metrics of one API server and the registry they are exposed from."""

    def __init__(self, limiter: InflightLimiter, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "apiserver_request", "Counter of apiserver requests broken out for each verb, dry run value, group, "
            "version, resource, scope, component, and HTTP response code.",
            ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component", "code"),
            registry=self.registry)
        self.durations = Histogram(
            "apiserver_request_duration_seconds", "Response latency distribution in seconds for each verb, dry run "
            "value, group, version, resource, subresource, scope and component.",
            ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component"),
            buckets=REQUEST_BUCKETS, registry=self.registry)
        self.longrunning = Gauge(
            "apiserver_longrunning_requests", "Gauge of all active long-running apiserver requests broken out by "
            "verb, group, version, resource, scope and component.",
            ("verb", "group", "version", "resource", "subresource", "scope", "component"), registry=self.registry)
        self.registry.register(_InflightCollector(limiter))
        # process_* (CPU, resident memory, open fds) and python_* beside them, as kube-apiserver has
        # process_* and go_*: read at scrape time only.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._exposed = _WithoutCreated(self.registry)
        self._resource_series: dict[tuple[str, ...], RequestSeries] = {}
        self._nonresource_series: dict[tuple[str, str], RequestSeries] = {}

    # ------------------------------------------------------------------ labels
    def resource_series(self, method: str, info: RequestInfo, version: str, content_type: str,
                        query_string: str) -> RequestSeries:
        """The series of a resource request, from its parsed path (`version` as requested)."""
        verb = _resource_verb(method, info, content_type)
        dry_run = _dry_run(query_string)
        rt = info.resource
        scope = "resource" if info.name or method == "POST" else ("namespace" if info.namespace else "cluster")
        key = (verb, dry_run, rt.group, version, rt.plural, info.subresource, scope)
        series = self._resource_series.get(key)
        if series is None:
            series = self._resource_series[key] = RequestSeries(self, key, verb in _LONG_RUNNING_VERBS)
        return series

    def nonresource_series(self, method: str, path: str, code: int) -> RequestSeries:
        """The series of a request that is not for a resource, or that failed before its resource was
        known (unauthenticated, unknown path): resource "", the path in subresource when it exists."""
        if path in _KNOWN_PATHS:
            label = path
        elif path.startswith(_HEALTH_PREFIXES):
            label = path[:path.index("/", 1)]
        else:
            label = path if code < 400 else ""
        key = (method, label)
        series = self._nonresource_series.get(key)
        if series is None:
            verb = "GET" if method == "HEAD" else method
            verb = verb if verb in VALID_VERBS else "other"
            series = self._nonresource_series[key] = RequestSeries(self, (verb, "", "", "", "", label, ""), False)
        return series

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format (content type `CONTENT_TYPE_LATEST`)."""
        return generate_latest(self._exposed)


def _resource_verb(method: str, info: RequestInfo, content_type: str) -> str:
    """kube-apiserver's CanonicalVerb then CleanVerb, from the HTTP method and the parsed request."""
    if info.verb == "watch":
        return "WATCH"
    if info.subresource in CONNECT_VERB_SUBRESOURCES:
        return "CONNECT"
    if method == "GET":
        return "GET" if info.name else "LIST"
    if method == "PATCH" and content_type == APPLY_PATCH:
        return "APPLY"
    return method if method in VALID_VERBS else "other"


def _dry_run(query_string: str) -> str:
    """kube-apiserver's cleanDryRun: "" without dryRun, the sorted distinct values, "invalid" when one is
    not `All` (the only value there is)."""
    if "dryRun" not in query_string:
        return ""
    values = parse_qs(query_string).get("dryRun", [])
    if not values:
        return ""
    if any(v != "All" for v in values):
        return "invalid"
    return "All"
