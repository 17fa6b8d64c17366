"""The counted tree a side is: steps, requests, backend operations, and what each adds up to.

Stats, Node and Step are named tuples: immutable like frozen dataclasses, and about fifty
times cheaper to create (a side of a few hundred spans makes thousands of them, and the
diff must answer within 100 ms on a large database).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

MAX_DEPTH = 48  # backend levels kept under a request; deeper work folds into its ancestor
MAX_SAMPLES = 256  # per-occurrence samples kept per node (enough for the rank test)
MAX_STARTS = 512  # start times kept per node (to recognise interleaved loops)
MAX_IDS = 3  # ids kept per node to drill into
MAX_STEPS = 2_000  # later steps fold into the last one (bounds the sequence alignment)

ACTION_KINDS = frozenset({"click", "dblclick", "input", "navigation"})

NodeKey = tuple[str, ...]


class Stats(NamedTuple):
    """What one node's occurrences add up to."""

    count: int  # type: ignore[assignment]  # a NamedTuple field may shadow tuple.count
    total_ns: int  # summed durations
    wait_ns: int  # what the user waited for (fold.py says how it is measured)
    errors: int = 0
    statuses: tuple[int, ...] = ()  # distinct HTTP statuses, sorted
    size_bytes: int | None = None  # summed response sizes, where the recording has them
    samples: tuple[int, ...] = ()  # one wait per occurrence (bounded)
    starts: tuple[int, ...] = ()  # start of each occurrence (bounded)
    ids: tuple[str, ...] = ()  # span ids (operations) or trace ids (requests), first few
    trace_ids: tuple[str, ...] = ()  # the traces the occurrences belong to, first few
    session_ids: tuple[str, ...] = ()  # the sessions they come from (several for a median side)


class Node(NamedTuple):
    """A request (`("request", fingerprint)`), a backend operation (`("op", service, fingerprint)`)
    or a browser error (`("error", text)`), with the work it caused below it."""

    key: NodeKey
    label: str
    stats: Stats
    children: tuple[Node, ...] = ()

    @property
    def level(self) -> str:
        return self.key[0]


class Step(NamedTuple):
    """One user action (or, for backend-only sessions, one run of same-root traces)."""

    key: tuple[str, str, str]  # (kind, label, page template)
    label: str  # what a person reads: 'click button "Place order"'
    nodes: tuple[Node, ...]
    start_ns: int | None = None


@dataclass(frozen=True)
class Side:
    """Everything one side of a diff did, in order."""

    kind: str  # "session" | "trace" | "median"
    name: str  # the session id, trace id, or a description of the median
    mode: str  # "actions" (browser steps) | "traces" (backend-only steps)
    steps: tuple[Step, ...]
    session_ids: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
