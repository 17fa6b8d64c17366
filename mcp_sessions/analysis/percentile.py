"""Nearest-rank percentiles: the value at rank q of n ordered values is the ⌈q·n⌉-th (1-based).

    n = 10, q = 0.95 → ⌈9.5⌉ = 10th value (index 9);  q = 0.5 → 5th (index 4)

No interpolation: the answer is always a duration that was measured. The index alone is
returned so a store can read that one value from an index instead of sorting every value.
"""

from __future__ import annotations

from collections.abc import Sequence


def nearest_rank_index(count: int, q: float) -> int:
    """The 0-based index of the nearest-rank q-percentile among `count` ordered values (count ≥ 1)."""
    return max(0, min(count - 1, int(q * count + 0.999999) - 1))


def nearest_rank(ordered: Sequence[int], q: float) -> int:
    """The nearest-rank q-percentile of values sorted ascending (not empty)."""
    return ordered[nearest_rank_index(len(ordered), q)]
