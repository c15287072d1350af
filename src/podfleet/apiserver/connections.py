"""The API server's TLS listener, hardened against clients that open connections and never use them.

aiohttp's own listener (`web.TCPSite`) keeps a connection as long as the client does: one that never
finishes the TLS handshake, or sends its request head a byte at a time, or sits idle, holds a file
descriptor, an SSL object and protocol objects forever. About 20,000 of them exhaust the process's
descriptors (then no client, and no storage file, can be opened) and 1.3 GB of memory. So this
listener, like Go's `http.Server` under kube-apiserver, gives each connection:

* a header-read timeout (`ReadHeaderTimeout`): the TLS handshake and the first request head must be
  complete within it from accept; a later request head within it from its first byte;
* an idle timeout (`IdleTimeout`): a kept-alive connection waits at most that long for its next
  request (aiohttp's keep-alive timer);

and the process:

* a cap on open connections, below the descriptor limit so storage, log files and the connections
  the server makes itself (kubelet proxying) always find a descriptor; past it a new connection is
  closed as soon as it is accepted;
* its soft RLIMIT_NOFILE raised to the hard limit (never above), so the cap can be as high as the
  administrator allowed;
* heap memory handed back to the kernel after a storm of connections has closed (see `MemoryTrimmer`).

It accepts the sockets itself rather than through `loop.create_server` because the event loop hides a
connection from the protocol until its TLS handshake completes, and the cap must count (and be able
to refuse) connections from the moment they are accepted. That also lets a connection that has sent
nothing yet wait as a bare descriptor on a private epoll, with no SSL object, transport or task: such
connections cost ~50 KiB each through `create_server` (a 20,000-connection flood: 1 GB) and next to
nothing here (the same flood: +6 MB).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import gc
import logging
import os
import resource
import select
import socket
import ssl
import uuid
from collections import OrderedDict
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest

from podfleet.api.errors import APIError, BadRequest, InternalError
from podfleet.apiserver.negotiation import encode_response, unsupported_encoding

log = logging.getLogger("podfleet.apiserver.connections")

# kube-apiserver's http.Server settings (staging/src/k8s.io/apiserver/pkg/server/secure_serving.go).
DEFAULT_READ_HEADER_TIMEOUT = 32.0
DEFAULT_IDLE_TIMEOUT = 90.0

# Descriptors kept out of the connection cap for everything else the process opens: the storage
# (SQLite files and WAL, or etcd connections), log files, the connections it makes to kubelets, pidfds
# and the to_thread pool's. A tenth of the limit, and at least FD_RESERVE_MIN (but never more than half
# of a small limit).
FD_RESERVE_FRACTION = 10
FD_RESERVE_MIN = 256

# Heap trimming after connection storms (see MemoryTrimmer): once this many connections have closed
# and then none for this many seconds, so a storm costs one trim, not thousands.
TRIM_AFTER_CLOSED = 1024
TRIM_DELAY = 1.0

# The TLS handshake timeout's floor: asyncio wants one > 0, and a client whose first bytes arrive at the
# very end of its header timeout is dropped this soon after.
MIN_HANDSHAKE_TIMEOUT = 0.01

# Connections accepted per turn of the event loop at most (see GuardedListener._accept).
ACCEPT_BATCH = 64

# How long accepting pauses when accept() itself fails for want of descriptors or memory (asyncio's
# own listener waits the same second), so a storm does not spin the loop on a failing accept.
ACCEPT_RETRY_DELAY = 1.0


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (never above) and return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as e:
            log.warning("could not raise the open-files limit", extra={"soft": soft, "hard": hard,
                                                                        "error": str(e)})
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(configured: int, nofile: int) -> int:
    """The cap on open connections for a process allowed `nofile` descriptors: `configured` (0 = as
    many as the limit allows), never more than leaves the reserve free."""
    reserve = max(min(FD_RESERVE_MIN, nofile // 2), nofile // FD_RESERVE_FRACTION)
    ceiling = max(1, nofile - reserve)
    if configured <= 0:
        return ceiling
    if configured > ceiling:
        log.warning("max connections lowered to leave descriptors for storage and clients",
                    extra={"configured": configured, "max_connections": ceiling, "nofile": nofile})
        return ceiling
    return configured


class MemoryTrimmer:
    """Hands freed heap memory back to the kernel after a storm of connections has closed.

    Each TLS connection allocates a few tens of kilobytes from the C heap (uvloop's 256 KiB read
    buffer, of which the touched pages count, OpenSSL's SSL object and record buffers, the HTTP
    parser) and from Python's. glibc keeps freed memory in its arenas unless it is at the top of the
    heap, so after a storm the process would stay as large as at its peak. Once `threshold`
    connections have closed and then none for `delay` seconds (the storm is over), it runs a full
    garbage collection (the daemons collect the oldest generation rarely, see podfleet.daemon, and
    closed connections leave reference cycles behind) and `malloc_trim(0)`, which returns every free
    page of every arena. Both take milliseconds per hundred megabytes, so they run once per storm,
    not once per connection.
    """

    def __init__(self, threshold: int, delay: float) -> None:
        self.threshold = threshold
        self.delay = delay
        self.trims = 0
        self._closed = 0
        self._closed_at_check = 0
        self._handle: asyncio.TimerHandle | None = None
        self._malloc_trim = _find_malloc_trim()

    def closed(self) -> None:
        """One connection closed."""
        self._closed += 1
        if self._handle is None and self._closed >= self.threshold > 0:
            self._schedule()

    def _schedule(self) -> None:
        self._closed_at_check = self._closed
        self._handle = asyncio.get_running_loop().call_later(self.delay, self._check)

    def _check(self) -> None:
        self._handle = None
        if self._closed != self._closed_at_check:
            self._schedule()  # still closing: wait for the storm to pass
            return
        closed, self._closed = self._closed, 0
        before = _rss_bytes()
        gc.collect()
        if self._malloc_trim is not None:
            self._malloc_trim(0)
        self.trims += 1
        log.info("memory handed back after a storm of connections",
                 extra={"closed": closed, "rss_before": before, "rss_after": _rss_bytes()})

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _rss_bytes() -> int:
    """This process's resident set size (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _find_malloc_trim() -> Any:
    """glibc's malloc_trim, or None on a C library without it (musl)."""
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection protocol plus the header-read deadline and the listener's bookkeeping.

    The deadline is armed when the connection is accepted (so it covers the TLS handshake) and again
    at the first byte of each later request head; it is disarmed by a complete head. Between
    requests aiohttp's keep-alive timer (`keepalive_timeout`, the idle timeout) closes the connection.
    It uses RequestHandler's `_request_count` (heads parsed so far, counted as soon as the parser has
    one), `_request_in_progress` (a handler is running, so the bytes arriving are a body), `_messages`
    (heads parsed, not yet handled) and `_keepalive_handle` (the keep-alive timer).
    """

    __slots__ = ("_accepted_at", "_head_timer", "_heads_at_arm", "_listener", "_made", "_released")

    def __init__(self, manager: web.Server, *, listener: GuardedListener, loop: asyncio.AbstractEventLoop,
                 accepted_at: float, **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._listener = listener
        self._accepted_at = accepted_at
        self._head_timer: asyncio.TimerHandle | None = None
        self._heads_at_arm = 0
        self._made = False
        self._released = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._made = True
        super().connection_made(transport)
        # aiohttp starts its keep-alive timer here too; the first request head is the header
        # deadline's alone, as with Go's http.Server (IdleTimeout only runs between requests).
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        self._arm(self._accepted_at + self._listener.read_header_timeout)

    def data_received(self, data: bytes) -> None:
        if data and self._head_timer is None and not self._request_in_progress:
            self._arm(self._loop.time() + self._listener.read_header_timeout)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        self.release()

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """The answer to what never reached the application's own error handling, a Kubernetes
        `Status` like every other answer (aiohttp's own is plain text, and Python's words): a request
        head the HTTP parser refused (400), or a failure past the application's error middleware (500
        with a request id; the traceback goes to the log only). The connection is closed afterwards,
        as aiohttp does. (aiohttp does not know the method of a head it could not parse, so even a
        HEAD gets this body: Content-Encoding, the one header-level refusal a well-formed request can
        meet, is therefore left to `negotiation.read_body`, see `_serve`.)"""
        if request.writer.output_size > 0:  # a response is under way: the connection is broken
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        error = protocol_error(status, exc)
        if error.code >= 500:
            request_id = uuid.uuid4().hex
            log.error("unhandled error", exc_info=exc, extra={"status": status, "request_id": request_id})
            error = InternalError(f"Internal error occurred: request {request_id}")
        else:
            log.debug("request refused before routing", extra={"status": error.code, "error": repr(exc)})
        resp = encode_response(error.to_status(), error.code)
        resp.force_close()
        return resp

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A body the client broke (bad gzip, broken chunked framing) is the client's problem: the
        request already got its 400, and aiohttp's reading of the rest of the body only fails again."""
        exc = kw.get("exc_info")
        if isinstance(exc, RequestPayloadError | HttpProcessingError):
            self.logger.debug(*args, **kw)
        else:
            super().log_exception(*args, **kw)

    def release(self) -> None:
        """Give the connection's slot back (once)."""
        if not self._released:
            self._released = True
            self._listener._released()

    @property
    def connected(self) -> bool:
        """connection_made was called: the handshake completed, connection_lost will follow."""
        return self._made

    def _arm(self, deadline: float) -> None:
        self._disarm()
        self._heads_at_arm = self._request_count
        self._head_timer = self._loop.call_at(deadline, self._header_deadline)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _header_deadline(self) -> None:
        self._head_timer = None
        if self._request_count != self._heads_at_arm or self._request_in_progress or self._messages:
            return  # a complete head arrived in time; the next one re-arms at its first byte
        transport = self.transport
        if transport is not None:
            self._listener.header_timeouts += 1
            # abort, not close: a TLS close waits for the peer's close_notify, and this peer is the
            # kind that never sends one
            transport.abort()


def protocol_error(status: int, exc: BaseException | None) -> APIError:
    """The Kubernetes error for a request aiohttp refused before routing it (see `handle_error`).

    The parser's own messages quote the request's bytes back and are aiohttp's wording; Go's
    net/http answers the same requests with fixed texts, and so does this."""
    if isinstance(exc, ContentEncodingError):  # br or zstd, where aiohttp decodes bodies (not on this listener)
        text = str(exc)
        return unsupported_encoding("br" if "(br)" in text else "zstd" if "(zstd)" in text else "unknown")
    if status >= 500:
        return InternalError("Internal error occurred")
    if isinstance(exc, LineTooLong):
        return BadRequest("malformed HTTP request: the request line or a header is too long")
    return BadRequest("malformed HTTP request")


_IP_FREEBIND = 15  # linux/in.h; the socket module does not export it


class GuardedListener:
    """Accepts TLS connections for an aiohttp `web.Server` with the timeouts and the cap above."""

    def __init__(self, server: web.Server, *, host: str, port: int, ssl_context: ssl.SSLContext,
                 backlog: int, max_connections: int, read_header_timeout: float, idle_timeout: float,
                 trimmer: MemoryTrimmer | None = None, freebind: bool = False) -> None:
        self._server = server
        self._host = host
        self._freebind = freebind
        self._port = port
        self._ssl = ssl_context
        self._backlog = backlog
        self.max_connections = max_connections
        self.read_header_timeout = read_header_timeout
        self.idle_timeout = idle_timeout
        self._trimmer = trimmer
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        # Accepted connections that have not sent a byte yet, fd -> accepted at, oldest first; they wait
        # on a private epoll (one descriptor for the event loop to watch) and one timer for the oldest.
        self._silent: OrderedDict[int, float] = OrderedDict()
        self._silent_poll: select.epoll | None = None
        self._silent_timer: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self.open_connections = 0
        self.peak_connections = 0
        self.refused = 0
        self.header_timeouts = 0

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if self._freebind:  # an address that is not (yet) on any interface
                sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
            sock.bind(addr)
            sock.listen(self._backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock, self._loop = sock, loop
        self._silent_poll = select.epoll()
        loop.add_reader(self._silent_poll.fileno(), self._spoke)
        loop.add_reader(sock.fileno(), self._accept)

    async def stop(self) -> None:
        """Stop accepting and drop the connections still in their handshake; established ones are the
        aiohttp server's to shut down."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._silent_timer is not None:
            self._silent_timer.cancel()
            self._silent_timer = None
        if self._silent_poll is not None and self._loop is not None:
            self._loop.remove_reader(self._silent_poll.fileno())
            self._silent_poll.close()
            self._silent_poll = None
        for fd in self._silent:
            os.close(fd)
        self._silent.clear()
        for task in list(self._handshakes):
            task.cancel()
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)
        if self._trimmer is not None:
            self._trimmer.cancel()

    def _accept(self) -> None:
        sock = self._sock
        loop = self._loop
        assert sock is not None and loop is not None
        # A few per wake-up, so a storm of connects cannot hold the loop while the connections already
        # open wait to be served; the rest are accepted on the next turn.
        for _ in range(ACCEPT_BATCH):
            try:
                # the bare descriptor: no socket object until the connection has sent something
                fd, _ = sock._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.error("accept failed, pausing", extra={"error": str(e), "seconds": ACCEPT_RETRY_DELAY,
                                                               "open_connections": self.open_connections})
                    loop.remove_reader(sock.fileno())
                    self._retry = loop.call_later(ACCEPT_RETRY_DELAY, self._resume_accepting)
                    return
                continue  # the peer went away between connect and accept (ECONNABORTED and the like)
            if self.open_connections >= self.max_connections:
                self.refused += 1
                os.close(fd)
                continue
            self.open_connections += 1
            self.peak_connections = max(self.peak_connections, self.open_connections)
            # No TLS or protocol state until the client sends its first bytes (the ClientHello): a
            # connection that never does costs its descriptor and a dict entry, and memory comes back
            # when it goes. (An SSL object, a transport and a task each cost ~50 KiB at first.)
            assert self._silent_poll is not None
            self._silent[fd] = loop.time()
            self._silent_poll.register(fd, select.EPOLLIN | select.EPOLLRDHUP)
            if self._silent_timer is None:
                self._silent_timer = loop.call_at(loop.time() + self.read_header_timeout, self._expire_silent)

    def _spoke(self) -> None:
        """The first bytes (or the end) arrived on silent connections: start their TLS handshakes."""
        assert self._loop is not None and self._silent_poll is not None
        for fd, _ in self._silent_poll.poll(0, ACCEPT_BATCH):
            self._silent_poll.unregister(fd)
            accepted_at = self._silent.pop(fd)
            conn = socket.socket(fileno=fd)
            conn.setblocking(False)
            task = self._loop.create_task(self._serve(conn, accepted_at))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    def _expire_silent(self) -> None:
        """Close the connections that sent nothing within the header timeout; wake again for the next."""
        assert self._loop is not None and self._silent_poll is not None
        self._silent_timer = None
        expired_before = self._loop.time() - self.read_header_timeout
        while self._silent:
            fd, accepted_at = next(iter(self._silent.items()))
            if accepted_at > expired_before:
                self._silent_timer = self._loop.call_at(accepted_at + self.read_header_timeout,
                                                        self._expire_silent)
                break
            del self._silent[fd]
            self._silent_poll.unregister(fd)
            os.close(fd)
            self.header_timeouts += 1
            self._released()

    def _resume_accepting(self) -> None:
        self._retry = None
        if self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    async def _serve(self, conn: socket.socket, accepted_at: float) -> None:
        loop = asyncio.get_running_loop()
        # auto_decompress=False: bodies are decoded by `negotiation.read_body`, which bounds what they
        # inflate to and answers every encoding it does not decode with a 415 Status (aiohttp's parser
        # fails a request in `br` or `zstd` before it is routed, with plain text even to a HEAD).
        handler = GuardedRequestHandler(self._server, listener=self, loop=loop, accepted_at=accepted_at,
                                        keepalive_timeout=self.idle_timeout, access_log=None,
                                        auto_decompress=False)
        # the handshake gets what is left of the header timeout (it must be > 0)
        handshake_timeout = max(accepted_at + self.read_header_timeout - loop.time(), MIN_HANDSHAKE_TIMEOUT)
        try:
            # The loop now owns the socket and closes it if the handshake fails or times out.
            await loop.connect_accepted_socket(
                lambda: handler, conn, ssl=self._ssl, ssl_handshake_timeout=handshake_timeout,
                # a TLS close waits this long for the peer's close_notify before dropping the socket
                ssl_shutdown_timeout=self.read_header_timeout)
        except asyncio.CancelledError:
            if not handler.connected:
                handler.release()
            raise
        except Exception as e:  # a failed or timed-out handshake, a reset: the client's problem
            if not handler.connected:
                handler.release()
            log.debug("TLS handshake failed", extra={"error": repr(e)})

    def _released(self) -> None:
        self.open_connections -= 1
        if self._trimmer is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: the server is being torn down
                self._trimmer.closed()
