"""CronJob schedules: the grammar of upstream's `cron.ParseStandard` (robfig/cron v3), evaluated by
`cronsim`.

Accepted, as upstream: five fields (minute hour day-of-month month day-of-week) of `*`, `?`, numbers,
month and weekday names (JAN-DEC, SUN-SAT, any case), ranges `a-b`, steps `*/n`, `a-b/n` and `a/n`
(from a to the field's maximum) and lists; the descriptors `@yearly`/`@annually`, `@monthly`,
`@weekly`, `@daily`/`@midnight`, `@hourly` and `@every <duration>`; a `TZ=zone` or `CRON_TZ=zone`
prefix. Day-of-week is 0-6 (7 is refused, as upstream). What cronsim knows beyond that (`L`, `W`,
`#`, a sixth field of seconds) is refused here, with upstream's messages.

The grammar is checked here so that the messages are upstream's; cronsim computes the times, in the
schedule's time zone (UTC unless one is given, as kube-controller-manager runs in UTC). Where the two
could differ: a schedule naming a day that never comes (`0 0 30 2 *`) is refused at once rather than
accepted and never run, and across daylight-saving changes cronsim follows Debian cron (a job whose
time is skipped by the spring change runs right after it; one in the repeated hour runs once).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

UTC = dt.UTC

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_DOWS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (min, max, names) of each field, as robfig's bounds
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _DOWS))
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TZ_PART = re.compile(r"^[A-Za-z\.\-_0-9+]{1,14}$")  # upstream's validTimeZoneCharacters


class ScheduleError(ValueError):
    """A schedule upstream's parser refuses; the message is the one it gives."""


def load_time_zone(name: str) -> dt.tzinfo:
    """time.LoadLocation: "" and "UTC" are UTC; otherwise an IANA name. Raises ScheduleError
    ("unknown time zone X")."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return UTC  # the controller manager's local time zone is UTC
    if name.startswith("/") or ".." in name.split("/") or "\\" in name:
        raise ScheduleError(f"unknown time zone {name}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {name}") from None


def valid_time_zone_name(name: str) -> bool:
    """The character check of upstream's validateTimeZone, before the zone is looked up."""
    return all(p not in (".", "..") and not p.startswith("-") and _TZ_PART.match(p) for p in name.split("/"))


def _parse_int(s: str) -> int:
    if not s.isdigit():
        raise ScheduleError(f'failed to parse int from {s}: strconv.Atoi: parsing "{s}": invalid syntax')
    return int(s)


def _int_or_name(s: str, names: dict[str, int]) -> int:
    if names and s.lower() in names:
        return names[s.lower()]
    return _parse_int(s)


def _check_range(expr: str, lo: int, hi: int, names: dict[str, int]) -> str:
    """robfig's getRange, for its errors; returns the range as cronsim reads it (names as numbers)."""
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    if low_high[0] in ("*", "?"):
        start, end = lo, hi
        text = "*"
    else:
        start = _int_or_name(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], names)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
        text = f"{start}-{end}" if len(low_high) == 2 else str(start)
    if len(range_and_step) == 2:
        step = _parse_int(range_and_step[1])
        if len(low_high) == 1 and low_high[0] not in ("*", "?"):
            end = hi  # "N/step" means "N-max/step"
            text = f"{start}-{end}"
        text += f"/{step}"
    elif len(range_and_step) > 2:
        raise ScheduleError(f"too many slashes: {expr}")
    else:
        step = 1
    if start < lo:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ScheduleError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
    return text


def _go_duration(s: str) -> float:
    """time.ParseDuration for the positive durations `@every` takes (e.g. 1h30m, 90s, 1.5h)."""
    pos, total = 0, 0.0
    if not s or s == "0":
        return 0.0
    while pos < len(s):
        m = _GO_DURATION.match(s, pos)
        if m is None:
            raise ScheduleError(f'failed to parse duration @every {s}: time: invalid duration "{s}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: `next(t)` is the first activation strictly after t (whole seconds)."""

    expr: str  # five cronsim fields, "" for a constant delay
    tz: dt.tzinfo
    every: float = 0.0  # @every: seconds between activations

    def next(self, t: dt.datetime) -> dt.datetime:
        return next(self.times_after(t))

    def times_after(self, t: dt.datetime) -> Iterator[dt.datetime]:
        """Activations after t, in UTC, in order."""
        t = t.astimezone(UTC)
        if self.every:
            # robfig's ConstantDelaySchedule: t + delay, sub-second part dropped
            cur = t.replace(microsecond=0)
            while True:
                cur = cur + dt.timedelta(seconds=self.every)
                yield cur
        # cronsim starts strictly after the given second; robfig starts from the next whole second.
        start = t.replace(microsecond=0).astimezone(self.tz)
        for found in CronSim(self.expr, start):
            yield found.astimezone(UTC)


def parse_schedule(schedule: str, time_zone: str | None = None) -> Schedule:
    """cron.ParseStandard of `schedule`, in `time_zone` (None: UTC; a TZ= prefix wins). Raises
    ScheduleError with upstream's message."""
    spec = schedule.strip()
    tz_name = time_zone or ""
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, spec = spec.partition(" ")
        tz_name = head.split("=", 1)[1]
        try:
            load_time_zone(tz_name)
        except ScheduleError as e:
            raise ScheduleError(f"provided bad location {tz_name}: {e}") from None
        spec = spec.strip()
    tz = load_time_zone(tz_name)
    if spec.startswith("@"):
        if spec.startswith("@every "):
            seconds = _go_duration(spec[len("@every "):].strip())
            if seconds < 1:
                seconds = 1.0  # robfig: "delays of less than a second are not supported"; it rounds up
            return Schedule("", tz, every=float(int(seconds)))
        if spec in _DESCRIPTORS:
            spec = _DESCRIPTORS[spec]
        else:
            raise ScheduleError(f"unrecognized descriptor: {spec}")
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = []
    for field, (lo, hi, names) in zip(fields, _BOUNDS, strict=True):
        parsed.append(",".join(_check_range(part, lo, hi, names) for part in field.split(",")))
    expr = " ".join(parsed)
    try:
        CronSim(expr, dt.datetime(2000, 1, 1, tzinfo=tz))
    except CronSimError as e:
        raise ScheduleError(str(e)) from None
    return Schedule(expr, tz)
