"""The resolver: one question about the cluster zone → one answer, as CoreDNS's kubernetes plugin gives.

Pure: no sockets, no dnslib; answers are plain records the server turns into wire messages. A name
that is not the resolver's to answer (outside the zone; a reverse name it holds no PTR for) yields
None, and the server forwards it upstream — as a kubeadm Corefile falls through from `kubernetes`
to `forward`.

What answers look like (the Kubernetes DNS specification, with CoreDNS's choices where it leaves
room): a name that exists but has no data of the asked type is NODATA (NOERROR, empty answer, the
zone's SOA in authority); a name that does not exist is NXDOMAIN (with the SOA). Both carry the SOA
so resolvers can cache the negative answer for its minimum, the TTL.

Where CoreDNS answers against the DNS RFCs, this resolver follows the RFCs, in four corners only:
a name above one that exists (`_tcp.<svc>.<ns>.svc`, `dns.<zone>`) is NODATA, not NXDOMAIN (RFC
8020: a resolver using QNAME minimisation would otherwise stop early); `dns-version.<zone>` asked
for anything but TXT is NODATA, not NXDOMAIN; and SOA asked at a name below the apex is NODATA (or
NXDOMAIN), where CoreDNS puts the apex SOA in the answer section under another owner name;
`<x>.<a-b-c-d>.<ns>.pod` does not exist, where CoreDNS ignores the extra label and answers the address.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from podfleet.dns.views import canonical_ip, ip_family, undashed
from podfleet.dns.zone import Entry, ZoneIndex

SCHEMA_VERSION = "1.1.0"  # the Kubernetes DNS schema version CoreDNS reports at dns-version.<zone>
SCHEMA_VERSION_TTL = 28800
MIN_TTL, MAX_TTL = 5, 30
MAX_CNAME_DEPTH = 8  # in-zone ExternalName chains followed at most this far (CoreDNS stops at 8)
POD_MODES = ("insecure", "verified", "disabled")


class QType(IntEnum):
    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    TXT = 16
    AAAA = 28
    SRV = 33


class Rcode(IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5


@dataclass(frozen=True, slots=True)
class SRVData:
    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class SOAData:
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


RData = str | SRVData | SOAData


@dataclass(frozen=True, slots=True)
class Record:
    name: str  # no trailing dot; the question's own spelling for records owned by the question name
    rtype: int
    ttl: int
    data: RData  # an address or a domain name (A, AAAA, CNAME, PTR, NS), text (TXT), SRVData, SOAData


@dataclass(frozen=True, slots=True)
class Answer:
    rcode: int = Rcode.NOERROR
    answer: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()
    # An ExternalName whose target is outside the zone: the answer holds the CNAME, and the server
    # looks the target up upstream (same type) and appends what it finds, as CoreDNS does.
    chase: str = ""
    authoritative: bool = True


SERVFAIL = Answer(rcode=Rcode.SERVFAIL, authoritative=False)


class Resolver:
    """Answers questions about `index.zone` (and PTR questions for the addresses it indexes).

    pods: how `<a-b-c-d>.<ns>.pod.<zone>` is answered — "insecure" (any address, as kube-dns did and
    kubeadm's Corefile still configures), "verified" (only if a pod in that namespace has it), or
    "disabled". nameservers: the addresses of the DNS Service itself, answered at `ns.dns.<zone>`
    and as glue for the zone's NS record.
    """

    def __init__(self, index: ZoneIndex, *, ttl: int = 5, pods: str = "insecure",
                 nameservers: tuple[str, ...] | list[str] = ()) -> None:
        if not MIN_TTL <= ttl <= MAX_TTL:
            raise ValueError(f"ttl must be within {MIN_TTL}..{MAX_TTL} seconds, not {ttl}")
        if pods not in POD_MODES:
            raise ValueError(f"pods must be one of {', '.join(POD_MODES)}, not {pods!r}")
        self.index = index
        self.ttl = ttl
        self.pods = pods
        self.nameservers = tuple(ip for ip in (canonical_ip(n) for n in nameservers) if ip is not None)
        self.zone = index.zone
        self._suffix = "." + self.zone

    @property
    def generation(self) -> int:
        """Moves whenever an answer could change (the index changed)."""
        return self.index.generation

    def in_zone(self, name: str) -> bool:
        name = name.rstrip(".").lower()
        return name == self.zone or name.endswith(self._suffix)

    def resolve(self, qname: str, qtype: int) -> Answer | None:
        owner = qname.rstrip(".")
        name = owner.lower()
        if qtype == QType.PTR and (name.endswith(".in-addr.arpa") or name.endswith(".ip6.arpa")):
            targets = self.index.ptr(name)
            if not targets:
                return None  # not an address we know: the upstream resolvers answer it
            services = [t for t in targets if t.service]
            chosen = services[:1] or targets  # a ClusterIP names its Service alone, as in CoreDNS
            names = dict.fromkeys(t.name for t in chosen)
            return Answer(answer=tuple(Record(owner, QType.PTR, self.ttl, n) for n in names))
        if not (name == self.zone or name.endswith(self._suffix)):
            return None
        if not self.index.ready:
            return SERVFAIL
        return self._in_zone(owner, name, qtype, 0)

    # ------------------------------------------------------------------ in the zone
    def _in_zone(self, owner: str, name: str, qtype: int, depth: int) -> Answer:
        rel = name[: -len(self.zone)].rstrip(".")
        if rel == "":
            return self._apex(owner, qtype)
        if rel == "dns-version":
            if qtype == QType.TXT:
                return Answer(answer=(Record(owner, QType.TXT, SCHEMA_VERSION_TTL, SCHEMA_VERSION),))
            return self._nodata()
        if rel == "ns.dns":
            fam = 4 if qtype == QType.A else 6 if qtype == QType.AAAA else 0
            found = tuple(Record(owner, qtype, self.ttl, ip) for ip in self.nameservers if ip_family(ip) == fam)
            return Answer(answer=found) if found else self._nodata()
        entries = self.index.lookup(name)
        if entries is None:
            entries = self._pod(name, rel)
            if entries is None:
                return self._nxdomain()
        return self._from_entries(owner, name, entries, qtype, depth)

    def _pod(self, name: str, rel: str) -> tuple[Entry, ...] | None:
        labels = rel.split(".")
        if self.pods == "disabled" or len(labels) != 3 or labels[2] != "pod":
            return None
        ip = undashed(labels[0])
        ns = labels[1]
        if ip is None or not self.index.namespace_exists(ns):
            return None
        if self.pods == "verified" and not self.index.pod_ip_exists(ns, ip):
            return None
        return (Entry(ip, ip_family(ip), -1, name),)

    def _from_entries(self, owner: str, name: str, entries: tuple[Entry, ...], qtype: int, depth: int) -> Answer:
        if qtype in (QType.A, QType.AAAA, QType.TXT):
            fam = 4 if qtype == QType.A else 6 if qtype == QType.AAAA else -1
            records = [Record(owner, qtype, self.ttl, h)
                       for h in dict.fromkeys(e.host for e in entries if e.family == fam)]
            chase = ""
            for e in entries:
                if e.family != 0 or e.host == name:  # `x CNAME x` would be a loop
                    continue
                cname = Record(owner, QType.CNAME, self.ttl, e.host)
                if self.in_zone(e.host):
                    if depth < MAX_CNAME_DEPTH:
                        further = self._in_zone(e.host, e.host, qtype, depth + 1)
                        if further.answer:  # CoreDNS keeps the CNAME only if the target resolved
                            records += [cname, *further.answer]
                else:
                    records.append(cname)
                    chase = e.host
            if records:
                return Answer(answer=tuple(records), chase=chase)
            return self._nodata()
        if qtype == QType.CNAME:
            target = next((e.host for e in entries if e.family == 0), "")
            if target:
                return Answer(answer=(Record(owner, QType.CNAME, self.ttl, target),))
            return self._nodata()
        if qtype == QType.SRV:
            return self._srv(owner, entries)
        return self._nodata()  # NS, SOA, PTR, MX, ANY... of a name that exists: NODATA

    def _srv(self, owner: str, entries: tuple[Entry, ...]) -> Answer:
        addressed = [e for e in entries if e.family != 0]  # SRV never follows an ExternalName
        if not addressed:
            return self._nodata()
        # All at priority 0 and weights sharing 100 evenly, as CoreDNS computes them (before the
        # port-less entries are dropped, which keeps its arithmetic).
        weight = max(1, math.floor(100 / len(addressed)))
        answers: dict[tuple[str, int], Record] = {}
        extra: dict[tuple[str, str], Record] = {}
        for e in addressed:
            if e.port < 0:
                continue
            answers.setdefault((e.target, e.port), Record(owner, QType.SRV, self.ttl,
                                                          SRVData(0, weight, e.port, e.target)))
            extra.setdefault((e.target, e.host), Record(e.target, QType.A if e.family == 4 else QType.AAAA,
                                                        self.ttl, e.host))
        if not answers:
            return self._nodata()
        return Answer(answer=tuple(answers.values()), additional=tuple(extra.values()))

    def _apex(self, owner: str, qtype: int) -> Answer:
        if qtype == QType.SOA:
            return Answer(answer=(self._soa(),))
        if qtype == QType.NS:
            ns_name = f"ns.dns.{self.zone}"
            glue = tuple(Record(ns_name, QType.A if ip_family(ip) == 4 else QType.AAAA, self.ttl, ip)
                         for ip in self.nameservers)
            return Answer(answer=(Record(owner, QType.NS, self.ttl, ns_name),), additional=glue)
        return self._nodata()

    # ------------------------------------------------------------------ negative answers
    def nodata(self) -> Answer:
        """NOERROR with no records and the zone's SOA (also what an ExternalName whose target could
        not be looked up answers)."""
        return self._nodata()

    def _soa(self) -> Record:
        return Record(self.zone, QType.SOA, self.ttl,
                      SOAData(f"ns.dns.{self.zone}", f"hostmaster.{self.zone}", self.index.serial,
                              7200, 1800, 86400, self.ttl))

    def _nodata(self) -> Answer:
        return Answer(authority=(self._soa(),))

    def _nxdomain(self) -> Answer:
        return Answer(rcode=Rcode.NXDOMAIN, authority=(self._soa(),))
