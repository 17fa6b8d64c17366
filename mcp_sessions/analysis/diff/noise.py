"""When a timing difference is a change and when it is noise.

Measured on the fixture recordings (`baseline` and `baseline-rerun`: the same flow on the
same build, recorded one after the other on one machine), single requests differ by up to
30x between runs (`GET /login` 104 ms vs 3.1 ms, all of it the handler's own time), and the
medians of ten requests of one template by up to 3x. No fixed tolerance separates that from
the N+1 regression (checkout 24 ms → 152 ms). What does separate them:

- structure: a count that changed, an operation that appeared, is a fact, not a timing;
- repetition: among repeated occurrences, a rank test tells a shift from scatter. With ten
  samples a side, the Mann-Whitney U test put every baseline/rerun template at p ≥ 0.09
  and the N+1 session's slower review requests at p < 0.001.

So a timing change is reported when it is large enough to matter (MIN_DELTA_NS and
MIN_RATIO, both) and, unless the structure changed, confirmed by the samples (rank test
at ALPHA with MIN_SAMPLES a side; against several baseline sessions, outside every value
they showed by MIN_RATIO; or a change no noise makes, OBVIOUS_DELTA_NS and twice the
wait). Timing differences that pass the size test but cannot be confirmed are kept apart
as unconfirmed, never ranked with the findings.

    baseline samples   ·  ··· ·· ·   ·                          p = 0.70: scatter
    target samples       · ·· ·  ··  ·
    baseline samples   ·  ··· ·· ·                              p < 0.001: a shift
    target samples                      · ·· ·  ··  ·
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MS = 1_000_000
# Below 5 ms nobody waits noticeably (a third of a 60 Hz frame), and timer resolution and
# scheduling on a busy host move single spans by about that much.
MIN_DELTA_NS = 5 * MS
# Under 20% a change is inside the scatter of repeated runs even where the scatter is small.
MIN_RATIO = 0.20
# The rank test's level. Strict, because one diff tests every node it compares: with about
# fifty nodes, 0.01 leaves one false alarm in every two diffs before the size tests above.
ALPHA = 0.01
# Fewer samples than this cannot reach ALPHA in a two-sided rank test (n=4 a side: p ≥ 0.03).
MIN_SAMPLES = 5
# A change no scheduling hiccup makes, reported even from one sample a side: the largest
# same-build difference measured in the fixtures was 0.2 s (ten page loads together), one
# request 0.1 s; half a second that at least doubles the wait is not that.
OBVIOUS_DELTA_NS = 500 * MS
OBVIOUS_RATIO = 1.0


def large_enough(delta_ns: float, base_ns: float) -> bool:
    """A change worth a user's notice: at least MIN_DELTA_NS and at least MIN_RATIO of what it was."""
    return abs(delta_ns) >= MIN_DELTA_NS and abs(delta_ns) >= MIN_RATIO * abs(base_ns)


def mann_whitney_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie and continuity corrected)."""
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        return 1.0
    tagged = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(tagged)
    tie_term = 0.0
    i = 0
    while i < len(tagged):
        j = i
        while j + 1 < len(tagged) and tagged[j + 1][0] == tagged[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = rank
        t = j - i + 1
        tie_term += t**3 - t
        i = j + 1
    r1 = sum(r for r, (_, group) in zip(ranks, tagged, strict=True) if group == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return 1.0
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)
    return max(0.0, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))))


def confirmed(baseline: Sequence[int], target: Sequence[int], *, pooled_baselines: bool) -> tuple[bool, float | None]:
    """Whether the samples show a real shift, and the rank test's p-value when one could be run."""
    if len(baseline) >= MIN_SAMPLES and len(target) >= MIN_SAMPLES:
        p = mann_whitney_p(baseline, target)
        return p < ALPHA, p
    if abs(_median(target) - _median(baseline)) >= max(OBVIOUS_DELTA_NS, OBVIOUS_RATIO * _median(baseline)):
        return True, None
    if pooled_baselines and len(baseline) >= MIN_SAMPLES and target:
        middle = sorted(target)[len(target) // 2]
        outside = middle > max(baseline) * (1 + MIN_RATIO) or middle * (1 + MIN_RATIO) < min(baseline)
        return outside, None
    return False, None


def _median(values: Sequence[int]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
