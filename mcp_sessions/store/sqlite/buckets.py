"""The duration buckets operation_durations counts (schema 12), as SQL: one definition for the
triggers that keep the counts (schema.py) and the rebuild that recounts them (summaries.py)."""

from __future__ import annotations

# An integer duration rounded down to its two leading digits (1234 -> 1200; below 100 as it is):
# monotonic, so the durations below a bucket are those of the buckets before it.
DURATION_BUCKET = (
    "CASE WHEN {d} < 100 THEN CAST({d} AS INTEGER) ELSE CAST(substr(CAST(CAST({d} AS INTEGER) AS TEXT), 1, 2) || "
    "substr('00000000000000000000', 1, length(CAST(CAST({d} AS INTEGER) AS TEXT)) - 2) AS INTEGER) END"
)
