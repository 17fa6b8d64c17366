"""`mcp-sessions report`: the views in one static HTML file, their data embedded, opening offline.

The data is the views' own payloads (payloads.py) in a `<script type="application/json">`
element; the views read it instead of asking a host. Recorded text is in it as stored
(redacted at ingest), so the JSON is made safe to sit in HTML: every `<`, `>` and `&` (which
covers `</script>` and `<!--`) and the two JavaScript line separators U+2028 and U+2029 are
written as `\\u` escapes, which JSON.parse reads back unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mcp_sessions import __version__
from mcp_sessions.answers.report import ReportAnswer
from mcp_sessions.render.apps import REPORT_SCRIPTS, page
from mcp_sessions.render.apps.payloads import session_picture, waterfall
from mcp_sessions.render.models import ReportData

DATA_ELEMENT_ID = "mcp-sessions-data"

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_TABLE = str.maketrans(_ESCAPES)


def embed_json(text: str) -> str:
    """JSON text as the content of a script element: nothing in it can close the element or open a comment."""
    return text.translate(_TABLE)


def report_data(answer: ReportAnswer, *, now: datetime | None = None) -> ReportData:
    picture = session_picture(answer.overview, answer.timeline)[1] if answer.overview and answer.timeline else None
    traces = {t.summary.trace_id: waterfall(t)[1] for t in answer.traces}
    return ReportData(
        kind="session" if picture else "trace",
        generated=(now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z"),
        version=__version__,
        session=picture,
        traces=traces,
        main_trace=None if picture else next(iter(traces), None),
        trace_count=answer.trace_count,
    )


def render_report(answer: ReportAnswer) -> str:
    data = report_data(answer)
    subject = f"session {data.session.overview.session.session_id}" if data.session else f"trace {data.main_trace}"
    element = f'<script type="application/json" id="{DATA_ELEMENT_ID}">{embed_json(data.model_dump_json())}</script>\n'
    return page("report", f"mcp-sessions report · {subject}", REPORT_SCRIPTS, data=element)
