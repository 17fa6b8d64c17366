"""Liberal readers for the values real exporters disagree on, and the bounds every stored value meets.

Ids arrive as hex in either case or as base64 (protobuf JSON mapping); 64-bit ids are
left-padded to the OTLP width. Integers arrive as numbers or strings. Every failure
raises MalformedInputError naming the field, so the user knows what to fix.

Bounds (what SQLite and the JSON encoder can hold, with room for arithmetic on them):

    integers      fit a signed 64-bit integer (SQLite's INTEGER)
    timestamps    0 ≤ t ≤ MAX_TIME_NS (2100-01-01 in ns since 1970): a duration or a sum
                  of a few times never overflows
    attributes    at most MAX_ATTRIBUTE_DEPTH levels of nested arrays/maps, at most
                  MAX_ATTRIBUTE_VALUES values in one record's attributes, every integer
                  inside them within 64 bits
    strings       at most MAX_STORED_CHARS characters: names, URLs, headers, messages,
                  attribute values and keys alike

Past the value count a record is kept: `capped_record` keeps its attributes in order up to the
count and drops the rest, and `checked_records` counts them (`SkippedRecords("attribute value")`,
which the ingest summary names). A longer string is cut by `bounded_record` with the cut said
in the value (`…[cut from 20,972,500 chars]`); the writer applies it after redaction, so a
secret is masked whole before any of it is cut, and counts the cuts (`SkippedRecords` of kind
"long value", named in the ingest summary too).

The format readers check times where they read them, naming the field
(`spans[3].endTimeUnixNano 18446744073709551615 is out of range`); `check_record` checks a
finished record of any format against every bound, so nothing out of range reaches the
writer whatever the parser; `checked_records` applies it to a stream, either failing it
(a file: nothing stored) or, for a receiver, replacing each bad span or log record by a
rejected count so its neighbours are kept.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

from mcp_sessions import cuts
from mcp_sessions.errors import MalformedInputError
from mcp_sessions.model import Event, LogRecord, Record, SkippedRecords, Span, SpanEvent
from mcp_sessions.numbers import whole_number

TRACE_ID_HEX = 32
SPAN_ID_HEX = 16

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TIME_NS = 4_102_444_800 * 10**9  # 2100-01-01T00:00:00Z
MAX_ATTRIBUTE_DEPTH = 32
MAX_ATTRIBUTE_VALUES = 10_000
MAX_STORED_CHARS = 16_384
_TOO_MANY = f"holds more than {MAX_ATTRIBUTE_VALUES} values"  # the problem capped_record solves
DROPPED_VALUES = "attribute value"  # SkippedRecords kind: values past MAX_ATTRIBUTE_VALUES, dropped
CUT_VALUES = "long value"  # SkippedRecords kind: strings past MAX_STORED_CHARS, cut

_HEX = re.compile(r"\A[0-9a-fA-F]+\Z")


def normalize_id(value: Any, width: int, where: str, *, optional: bool = False) -> str | None:
    """A lowercase hex id of `width` characters, or None for an absent/all-zero optional id."""
    if value is None or value == "":
        if optional:
            return None
        raise MalformedInputError(f"{where}: missing id")
    if isinstance(value, int) and not isinstance(value, bool):
        text = format(value, "x")
    elif isinstance(value, str):
        text = value.strip()
        if not _HEX.match(text) or len(text) > width:
            text = _base64_to_hex(text, width, where)
    else:
        raise MalformedInputError(f"{where}: expected an id string, got {type(value).__name__}")
    text = text.lower()
    if len(text) > width:
        # 128-bit ids seen by a 64-bit system keep their low half (as Zipkin/Jaeger do).
        text = text[-width:]
    text = text.rjust(width, "0")
    if optional and set(text) == {"0"}:
        return None
    return text


def _base64_to_hex(text: str, width: int, where: str) -> str:
    try:
        raw = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None, validate=True
        )
    except (binascii.Error, ValueError):
        raise MalformedInputError(f"{where}: {text[:40]!r} is neither hex nor base64") from None
    # A base64 id is the id's raw bytes: 16 or 8 for a trace id, 8 for a span id. Anything else is
    # a string that merely happens to be valid base64 ("xyz"), not an id.
    if len(raw) not in {width // 2, 8}:
        raise MalformedInputError(f"{where}: {text[:40]!r} is neither a hex id nor a base64 id of {width // 2} bytes")
    return raw.hex()


def to_int(value: Any, where: str, *, default: int | None = None) -> int | None:
    """An integer from a JSON number or a decimal string (OTLP int64 fields are strings), within 64 bits."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise MalformedInputError(f"{where}: expected an integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedInputError(f"{where}: expected an integer, got {value!r}")
        number = int(value)
    elif isinstance(value, str):
        number = _int_from_text(value, where)
    else:
        raise MalformedInputError(f"{where}: expected an integer, got {type(value).__name__}")
    if not INT64_MIN <= number <= INT64_MAX:
        raise MalformedInputError(f"{where} {_shown(value)} is out of range (more than 64 bits)")
    return number


def _int_from_text(value: str, where: str) -> int:
    text = value.strip()
    if len(text) > 40:  # no 64-bit number is this long; int() of a huge string is slow
        raise MalformedInputError(f"{where}: expected an integer, got {value[:40]!r}…")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        as_float = float(text)
    except ValueError:
        raise MalformedInputError(f"{where}: expected an integer, got {value[:40]!r}") from None
    if not math.isfinite(as_float):
        raise MalformedInputError(f"{where}: expected an integer, got {value[:40]!r}")
    return int(as_float)


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "…"


def to_time_ns(value: Any, where: str, *, default: int | None = None) -> int | None:
    """A timestamp in ns since 1970 (number or decimal string) within the stored range; see the module docstring."""
    number = to_int(value, where, default=default)
    return None if number is None else check_time_ns(number, where, value)


def check_time_ns(number: int, where: str, raw: Any = None) -> int:
    """`number` if it is a timestamp we can store, else MalformedInputError naming `where` and the value."""
    if 0 <= number <= MAX_TIME_NS:
        return number
    raise MalformedInputError(_time_message(number if raw is None else raw, where))


def time_problem(number: int, where: str) -> str | None:
    """The out-of-range message for a timestamp, or None when it is fine (for readers that count rejects)."""
    return None if 0 <= number <= MAX_TIME_NS else _time_message(number, where)


def _time_message(value: Any, where: str) -> str:
    return (
        f"{where} {_shown(value)} is out of range "
        f"(timestamps are nanoseconds since 1970, from 0 to {MAX_TIME_NS}, the year 2100)"
    )


def attributes_problem(attributes: Any, where: str) -> str | None:
    """Why `attributes` (a record's attribute map, or any decoded value) cannot be stored, or None.

    Too deep a nesting, too many values, or an integer beyond 64 bits; most maps are flat
    strings, which cost one type check each.
    """
    budget = [MAX_ATTRIBUTE_VALUES]
    return _value_problem(attributes, where, 0, budget)


def _value_problem(value: Any, where: str, depth: int, budget: list[int]) -> str | None:
    kind = type(value)
    if kind is dict or kind is list:
        if depth >= MAX_ATTRIBUTE_DEPTH:
            return f"{where} nests more than {MAX_ATTRIBUTE_DEPTH} levels of arrays or maps"
        budget[0] -= len(value)
        if budget[0] < 0:
            return f"{where} {_TOO_MANY}"
        items = value.items() if kind is dict else enumerate(value)
        for key, item in items:
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item_kind is float or item is None:
                continue
            problem = _value_problem(item, f"{where}.{key}" if kind is dict else f"{where}[{key}]", depth + 1, budget)
            if problem:
                return problem
        return None
    if kind is int and not INT64_MIN <= value <= INT64_MAX:
        return f"{where} {_shown(value)} is out of range (more than 64 bits)"
    return None


def record_problem(record: Record) -> str | None:
    """Why `record` (of any format) cannot be stored as it is, or None; see the module docstring."""
    if isinstance(record, Span):
        return (
            time_problem(record.start_ns, "start time")
            or time_problem(record.end_ns, "end time")
            or attributes_problem(record.attributes, "attributes")
            or attributes_problem(record.resource, "resource attributes")
            or next(
                (
                    problem
                    for n, event in enumerate(record.events)
                    if (
                        problem := time_problem(event.time_ns, f"events[{n}] time")
                        or attributes_problem(event.attributes, f"events[{n}].attributes")
                    )
                ),
                None,
            )
            or next(
                (
                    problem
                    for n, link in enumerate(record.links)
                    if (problem := attributes_problem(link.attributes, f"links[{n}].attributes"))
                ),
                None,
            )
        )
    if isinstance(record, LogRecord):
        return (
            time_problem(record.time_ns, "time")
            or (None if record.observed_time_ns is None else time_problem(record.observed_time_ns, "observed time"))
            or _int64_problem(record.severity_number, "severity number")
            or attributes_problem(record.attributes, "attributes")
            or attributes_problem(record.resource, "resource attributes")
            or attributes_problem(record.body, "body")
        )
    if isinstance(record, Event):
        return (
            (None if record.time_ns is None else time_problem(record.time_ns, "time"))
            or _int64_problem(record.duration_ns, "duration")
            or _int64_problem(record.status, "status")
            or _int64_problem(record.seq, "sequence number")
            or attributes_problem(record.detail, "detail")
        )
    return None


def _int64_problem(value: int | None, where: str) -> str | None:
    if value is None or INT64_MIN <= value <= INT64_MAX:
        return None
    return f"{where} {_shown(value)} is out of range (more than 64 bits)"


def _describe(record: Span | LogRecord | Event, ordinal: int) -> str:
    if isinstance(record, Span):
        return f"span {ordinal} (trace {record.trace_id}, span {record.span_id})"
    if isinstance(record, LogRecord):
        return f"log record {ordinal}"
    return f"event {ordinal} ({record.kind})"


_REJECTED = {Span: "rejected span", LogRecord: "rejected log", Event: "rejected event"}


def checked_records(records: Iterable[Record], *, isolate: bool = False) -> Iterator[Record]:
    """`records` with every one checked by `record_problem`.

    A bad record raises MalformedInputError (nothing of the input should be stored), or with
    `isolate` becomes `SkippedRecords("rejected span" | "rejected log" | "rejected event", 1,
    reason)` so the records beside it are kept.
    """
    ordinals = {Span: 0, LogRecord: 0, Event: 0}
    for record in records:
        kind = type(record)
        if kind not in ordinals:
            yield record
            continue
        ordinals[kind] += 1
        problem = record_problem(record)
        if problem is not None and problem.endswith(_TOO_MANY):
            record, dropped = capped_record(record)  # type: ignore[arg-type]
            yield SkippedRecords(
                DROPPED_VALUES,
                dropped,
                reason=f"{_describe(record, ordinals[kind])}: {dropped} {DROPPED_VALUES}s "
                f"past {MAX_ATTRIBUTE_VALUES:,} dropped",
            )
            problem = record_problem(record)
        if problem is None:
            yield record
            continue
        message = f"{_describe(record, ordinals[kind])}: {problem}"  # type: ignore[arg-type]
        if not isolate:
            raise MalformedInputError(message)
        yield SkippedRecords(_REJECTED[kind], 1, reason=message)


def enum_value(
    value: Any, names: dict[str, str], numbers: dict[int, str], prefix: str, where: str, default: str
) -> str:
    """An enum given as a number (2), a full name (SPAN_KIND_SERVER) or a short one (server)."""
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return numbers.get(value, default)
    if isinstance(value, str):
        key = value.strip().lower()
        if (number := whole_number(key)) is not None:
            return numbers.get(number, default)
        key = key.removeprefix(prefix)
        if key in names:
            return names[key]
        return default
    raise MalformedInputError(f"{where}: expected an enum name or number, got {type(value).__name__}")


def expect_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedInputError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def expect_dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedInputError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _size(value: Any) -> int:
    """Values in `value` as `_value_problem` counts them: every element of every array or map."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return 0
    items = value.values() if kind is dict else value
    return len(value) + sum(_size(v) for v in items if type(v) is dict or type(v) is list)


def _capped(attributes: Any, budget: list[int]) -> tuple[Any, int]:
    """`attributes` (a map) in order while their values fit `budget`, and how many values were dropped."""
    if type(attributes) is not dict:
        return attributes, 0
    if len(attributes) <= budget[0] and all(type(v) is not dict and type(v) is not list for v in attributes.values()):
        budget[0] -= len(attributes)
        return attributes, 0
    kept: dict[str, Any] = {}
    dropped = 0
    for key, value in attributes.items():
        cost = 1 + _size(value)
        if cost <= budget[0]:
            kept[key] = value
            budget[0] -= cost
        else:
            dropped += cost
            budget[0] = 0
    return (kept, dropped) if dropped else (attributes, 0)


def capped_record(record: Span | LogRecord | Event) -> tuple[Span | LogRecord | Event, int]:
    """`record` with each attribute map kept up to MAX_ATTRIBUTE_VALUES values (in order), and how many
    values were dropped; the record itself when nothing was."""
    if isinstance(record, Span):
        dropped = 0
        changes: dict[str, Any] = {}
        for name in ("attributes", "resource"):
            kept, n = _capped(getattr(record, name), [MAX_ATTRIBUTE_VALUES])
            if n:
                changes[name], dropped = kept, dropped + n
        events = []
        for event in record.events:
            kept, n = _capped(event.attributes, [MAX_ATTRIBUTE_VALUES])
            events.append(dataclasses.replace(event, attributes=kept) if n else event)
            dropped += n
        links = []
        for link in record.links:
            kept, n = _capped(link.attributes, [MAX_ATTRIBUTE_VALUES])
            links.append(dataclasses.replace(link, attributes=kept) if n else link)
            dropped += n
        if not dropped:
            return record, 0
        return dataclasses.replace(record, events=tuple(events), links=tuple(links), **changes), dropped
    names = ("attributes", "resource") if isinstance(record, LogRecord) else ("detail",)
    dropped = 0
    changes = {}
    for name in names:
        kept, n = _capped(getattr(record, name), [MAX_ATTRIBUTE_VALUES])
        if n:
            changes[name], dropped = kept, dropped + n
    return (dataclasses.replace(record, **changes), dropped) if dropped else (record, 0)


def cut_text(text: str, limit: int = MAX_STORED_CHARS) -> str:
    """`text`, or its start and `…[cut from N chars]` within `limit` characters (`cuts.cut_text`)."""
    return cuts.cut_text(text, limit)


class _Cuts:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


def _bounded(value: Any, cuts: _Cuts) -> Any:
    """`value` with every string in it (map keys too) at most MAX_STORED_CHARS; `value` itself when none is longer."""
    kind = type(value)
    if kind is str:
        if len(value) <= MAX_STORED_CHARS:
            return value
        cuts.n += 1
        return cut_text(value)
    if kind is dict:
        out = None
        for i, (key, item) in enumerate(value.items()):
            new_key, new_item = _bounded(key, cuts), _bounded(item, cuts)
            if out is None and (new_key is not key or new_item is not item):
                out = dict(list(value.items())[:i])
            if out is not None:
                out[new_key] = new_item
        return value if out is None else out
    if kind is list:
        items = [_bounded(item, cuts) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


_TEXT_FIELDS = {
    Span: ("name", "status_message", "scope"),
    LogRecord: ("severity_text", "scope", "event_name"),
    Event: ("summary", "url", "target", "level", "method", "session_key", "client_key", "user_id"),
}
_MAP_FIELDS = {Span: ("attributes", "resource"), LogRecord: ("attributes", "resource", "body"), Event: ("detail",)}


def bounded_record(record: Span | LogRecord | Event) -> tuple[Span | LogRecord | Event, int]:
    """`record` with every string in it at most MAX_STORED_CHARS (the cut said in the value), and how
    many strings were cut; the record itself when none was."""
    cuts = _Cuts()
    kind = type(record)
    changes: dict[str, Any] = {}
    for name in _TEXT_FIELDS[kind]:
        value = getattr(record, name)
        if value is not None and len(value) > MAX_STORED_CHARS:
            changes[name] = _bounded(value, cuts)
    for name in _MAP_FIELDS[kind]:
        value = getattr(record, name)
        new = _bounded(value, cuts)
        if new is not value:
            changes[name] = new
    if isinstance(record, Span) and (record.events or record.links):
        events = tuple(_bounded_event(e, cuts) for e in record.events)
        links = tuple(
            li if (a := _bounded(li.attributes, cuts)) is li.attributes else dataclasses.replace(li, attributes=a)
            for li in record.links
        )
        if any(a is not b for a, b in zip(events, record.events, strict=True)):
            changes["events"] = events
        if any(a is not b for a, b in zip(links, record.links, strict=True)):
            changes["links"] = links
    return (dataclasses.replace(record, **changes), cuts.n) if changes else (record, 0)


def _bounded_event(event: SpanEvent, cuts: _Cuts) -> SpanEvent:
    name = _bounded(event.name, cuts)
    attributes = _bounded(event.attributes, cuts)
    if name is event.name and attributes is event.attributes:
        return event
    return dataclasses.replace(event, name=name, attributes=attributes)
