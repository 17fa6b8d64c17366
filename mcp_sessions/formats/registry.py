"""Every format ingest reads, by the name its parser reports, and how to name them to people.

The CLI's help, the ingest_recording description and the parsers' error texts are written
from this list; it imports no parser, so building the CLI's help stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Format:
    name: str  # as `Parsed.format` and the ingest report give it
    label: str  # for people
    shape: Literal["document", "lines", "binary"]  # one JSON document, JSON Lines, or protobuf


FORMATS: tuple[Format, ...] = (
    Format("otlp-json", "OTLP/JSON export requests", "document"),
    Format("otlp-jsonl", "Collector JSON Lines files", "lines"),
    Format("otlp-proto", "OTLP protobuf", "binary"),
    Format("otlp-proto-stream", "length-prefixed OTLP protobuf streams", "binary"),
    Format("jaeger-json", "Jaeger JSON", "document"),
    Format("zipkin-json", "Zipkin v2 JSON", "document"),
    Format("har", "HAR files", "document"),
    Format("rrweb", "rrweb recordings (and PostHog exports of them)", "document"),
)

NAMES = frozenset(f.name for f in FORMATS)


def readable(shape: Literal["document", "lines", "binary"] | None = None, *, conjunction: str = "and") -> str:
    """The formats read (of one shape), as a list in words: 'A, B and C'."""
    labels = [f.label for f in FORMATS if shape is None or f.shape == shape]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} {conjunction} {labels[-1]}"
