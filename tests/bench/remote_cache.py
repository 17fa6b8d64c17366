"""First answer from a remote source against the same answer from its local cache.

    python tests/bench/remote_cache.py

Serves the shop fixtures (fixtures/recordings/shop/otlp) as Jaeger api_v3 and as Tempo answer them
(tests/remote_fakes.py) on a loopback socket, opens `--store`'s RemoteStore on each, and times
`get_trace`'s answer (trace_view) for the 20 largest traces, first (fetch, parse, redact, write,
answer) and again (the cache), then `get_session`'s (session_overview) for the n-plus-one session.
Prints medians and how many HTTP requests were sent.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mcp_sessions.answers.session import session_overview  # noqa: E402
from mcp_sessions.answers.trace import trace_view  # noqa: E402
from mcp_sessions.store.open import open_store  # noqa: E402
from tests.remote_fakes import FakeSource, Traces, serve_on_socket  # noqa: E402

SESSION = "sess_4951e114f2553254"


def main() -> None:
    traces = Traces(sorted((ROOT / "fixtures" / "recordings" / "shop" / "otlp").glob("*.jsonl")))
    spans = sum(len(v) for v in traces.spans.values())
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {len(traces.spans)} traces, {spans} spans")
    largest = sorted(traces.spans, key=lambda t: -len(traces.spans[t]))[:20]
    for kind in ("jaeger", "tempo"):
        fake = FakeSource(kind, traces)
        with serve_on_socket(fake.handle) as address, tempfile.TemporaryDirectory() as folder:
            store = open_store(f"{kind}+http://{address}?ttl=1h&lookback=3650d&cache={folder}/cache.db")
            first, again = [], []
            for trace_id in largest:
                for times in (first, again):
                    start = time.perf_counter()
                    trace_view(store, trace_id, max_spans=100)
                    times.append(time.perf_counter() - start)
            session_times = []
            for _ in range(2):
                start = time.perf_counter()
                session_overview(store, SESSION)
                session_times.append(time.perf_counter() - start)
            store.close()
        print(
            f"{kind}: get_trace first {statistics.median(first) * 1000:.1f} ms, cached "
            f"{statistics.median(again) * 1000:.1f} ms (median of {len(largest)}); get_session first "
            f"{session_times[0] * 1000:.0f} ms, cached {session_times[1] * 1000:.0f} ms; {len(fake.requests)} requests"
        )


if __name__ == "__main__":
    main()
