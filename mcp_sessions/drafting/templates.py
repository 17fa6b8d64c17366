"""The fixed parts of drafted test modules: helper functions, imports, the header docstring.

Each helper is written once here, already formatted, and included only when a drafted
module calls it (a module imports and defines only what it uses).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence

from mcp_sessions.drafting.code import WIDTH, docstring_text
from mcp_sessions.drafting.model import EnvVar

SECRET = '''
def secret(name: str) -> str:
    """A value the recording could not keep (it was redacted), from the environment."""
    value = os.environ.get(name, "")
    if not value:
        pytest.skip(f"set {name}: its recorded value was redacted")
    return value
'''

CHECK = '''
def check(response: httpx.Response, status: int, media: str | None = None) -> Any:
    """Assert the recorded status and content type; return the JSON body, if any."""
    where = f"{response.request.method} {response.request.url.path}"
    got = response.status_code
    assert got == status, f"{where}: status {got}, not {status}: {response.text[:300]}"
    if media is None:
        return None
    got_media = response.headers.get("content-type", "").split(";")[0].strip()
    assert got_media == media, f"{where}: content type {got_media!r}, not {media!r}"
    return response.json() if "json" in media else None
'''

CHECK_FIXED = '''
def check_fixed(response: httpx.Response, recorded: int) -> None:
    """The recording got a server error here; once the bug is fixed, it succeeds."""
    where = f"{response.request.method} {response.request.url.path}"
    got = response.status_code
    assert got < 500, f"{where}: status {got} (recorded {recorded}): not fixed yet"
'''

MATCHES = '''
def matches(actual: object, expected: object, where: str = "body") -> None:
    """Assert the recorded shape: a type stands for any value, `...` ends a list."""
    if isinstance(expected, type):
        kinds = (int, float) if expected is float else expected
        ok = isinstance(actual, kinds)
        ok = ok and isinstance(actual, bool) == (expected is bool)
        assert ok, f"{where}: expected {expected.__name__}, got {actual!r}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: no {key!r} among {sorted(actual)}"
            matches(actual[key], value, f"{where}[{key!r}]")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        items = expected[:-1] if expected[-1:] == [...] else expected
        count = len(actual)
        if items is expected:
            assert count == len(items), f"{where}: {count} items, not {len(items)}"
        for index, value in enumerate(items):
            assert index < count, f"{where}: {count} items, not {len(items)}+"
            matches(actual[index], value, f"{where}[{index}]")
    else:
        assert actual == expected, f"{where}: {actual!r}, recorded {expected!r}"
'''

WITHIN = '''
def within(response: httpx.Response, recorded_ms: float) -> None:
    """Fail when a request takes over LATENCY_FACTOR times its recorded time."""
    took = response.elapsed.total_seconds() * 1000
    limit = max(recorded_ms * LATENCY_FACTOR, LATENCY_FLOOR_MS)
    where = f"{response.request.method} {response.request.url.path}"
    assert took <= limit, f"{where}: {took:.0f} ms, over {limit:.0f} ms"
'''

# The app's own spans, received while the test runs: how it counts each request's queries.
TELEMETRY = '''
QUERY_KEYS = {"db.query.text", "db.statement"}


def spans_from_json(body: bytes) -> Iterator[tuple[str, str, bool]]:
    """(trace id, parent span id, is a query) of each span in an OTLP/JSON request."""

    def hex_id(value: str) -> str:
        if re.fullmatch(r"[0-9a-fA-F]*", value) and len(value) in (0, 16, 32):
            return value.lower()
        return base64.b64decode(value).hex()  # the protobuf JSON mapping's base64

    for resource in json.loads(body).get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                keys = {a.get("key") for a in span.get("attributes", [])}
                trace_id = hex_id(span.get("traceId", ""))
                yield trace_id, hex_id(span.get("parentSpanId", "")), bool(keys & QUERY_KEYS)


def spans_from_protobuf(body: bytes) -> Iterator[tuple[str, str, bool]]:
    """The same from an OTLP/protobuf request (needs the opentelemetry-proto package)."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                keys = {a.key for a in span.attributes}
                trace_id = span.trace_id.hex()
                yield trace_id, span.parent_span_id.hex(), bool(keys & QUERY_KEYS)


class Telemetry:
    """An OTLP/HTTP receiver for the app's spans; each request gets a traceparent of its own."""

    def __init__(self, port: int) -> None:
        self.spans: dict[str, list[tuple[str, bool]]] = {}
        self.lock = threading.Lock()
        telemetry = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                media = self.headers.get("content-type", "")
                if self.path.endswith("/v1/traces"):
                    json_body = "json" in media
                    read = spans_from_json if json_body else spans_from_protobuf
                    telemetry.add(read(body))
                self.send_response(200)
                self.send_header("content-type", media or "application/json")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        try:
            self.server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
        except OSError as exc:
            pytest.fail(f"cannot receive the app's spans on 127.0.0.1:{port} ({exc}): set {OTLP_PORT_VAR}")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> "Telemetry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, spans: Iterable[tuple[str, str, bool]]) -> None:
        with self.lock:
            for trace_id, parent_id, query in spans:
                self.spans.setdefault(trace_id, []).append((parent_id, query))

    def tag(self, request: httpx.Request) -> None:
        """Start the request's trace here, so the app's server span is a child of it."""
        trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
        request.headers["traceparent"] = f"00-{trace_id}-{span_id}-01"

    def queries(self, response: httpx.Response) -> int:
        """The queries the app ran for this response, once its server span has arrived."""
        _, trace_id, span_id, _ = response.request.headers["traceparent"].split("-")
        deadline = time.monotonic() + OTLP_WAIT_S
        while time.monotonic() < deadline:
            with self.lock:
                spans = list(self.spans.get(trace_id, ()))
            if any(parent == span_id for parent, _ in spans):
                return sum(query for _, query in spans)
            time.sleep(0.05)
        where = f"{response.request.method} {response.request.url.path}"
        raise AssertionError(
            f"{where}: no span of its trace reached 127.0.0.1:{self.server.server_port} "
            f"within {OTLP_WAIT_S} s; run the app with "
            f"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:{self.server.server_port}"
            "/v1/traces OTEL_BSP_SCHEDULE_DELAY=100"
        )


def at_most_queries(r: httpx.Response, telemetry: Telemetry, limit: int, why: str) -> None:
    """Fail when the request ran more database queries than `limit`."""
    ran = telemetry.queries(r)
    where = f"{r.request.method} {r.request.url.path}"
    assert ran <= limit, f"{where}: {ran} queries, over {limit} ({why})"
'''

UI_HELPERS = '''
def call(method: str, path: str) -> Callable[[Response], bool]:
    """A response test: this method and path, `*` standing for one path segment."""
    wanted = path.strip("/").split("/")

    def test(response: Response) -> bool:
        got = urlsplit(response.url).path.strip("/").split("/")
        if response.request.method != method or len(got) != len(wanted):
            return False
        return all(w in ("*", g) for w, g in zip(wanted, got, strict=True))

    return test


class Responses:
    """Every response the page receives, so each step can check the ones it caused."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.seen: list[Response] = []
        page.on("response", self.add)

    def add(self, response: Response) -> None:
        self.seen.append(response)

    def mark(self) -> int:
        return len(self.seen)

    def wait(self, since: int, method: str, path: str) -> Response:
        test = call(method, path)
        for _ in range(200):
            found = [r for r in self.seen[since:] if test(r)]
            if found:
                return found[0]
            self.page.wait_for_timeout(50)
        raise AssertionError(f"no response to {method} {path} within 10 s")

    def expect(self, since: int, method: str, path: str, status: int) -> None:
        got = self.wait(since, method, path).status
        assert got == status, f"{method} {path}: status {got}, not {status}"

    def expect_fixed(self, since: int, method: str, path: str, recorded: int) -> None:
        got = self.wait(since, method, path).status
        assert got < 500, f"{method} {path}: {got} (recorded {recorded}): not fixed yet"
'''

BROWSER = """
@pytest.fixture
def page() -> Iterator[Page]:
    if not BASE_URL:
        pytest.skip(f"set {BASE_URL_VAR} to the app under test")
    with sync_playwright() as playwright:
        executable = os.environ.get(CHROMIUM_VAR) or None
        browser = playwright.chromium.launch(executable_path=executable)
        context = browser.new_context(viewport=VIEWPORT)
        yield context.new_page()
        context.close()
        browser.close()
"""


def imports(stdlib: Iterable[str], third_party: Iterable[str]) -> list[str]:
    """Import lines in isort order: plain imports, then from-imports, per section."""

    def section(names: Iterable[str]) -> list[str]:
        unique = sorted(set(names))
        plain = sorted((n for n in unique if n.startswith("import ")), key=lambda n: n.split()[1])
        froms = sorted((n for n in unique if n.startswith("from ")), key=lambda n: n.split()[1])
        return plain + froms

    first, second = section(stdlib), section(third_party)
    return first + ([""] if first and second else []) + second


def docstring(title: str, paragraphs: Sequence[str], notes: Sequence[str], env: Sequence[EnvVar]) -> list[str]:
    """The module's header: what it replays and from where, what to know, which variables to set."""
    out = ['"""' + docstring_text(title)[: WIDTH - 3], ""]
    for paragraph in paragraphs:
        out += [*textwrap.wrap(docstring_text(paragraph), WIDTH), ""]
    if notes:
        out.append("Notes:")
        for note in notes:
            out += textwrap.wrap(docstring_text(note), WIDTH, initial_indent="- ", subsequent_indent="  ")
        out.append("")
    if env:
        out.append("Environment:")
        width = max(len(e.name) for e in env) + 2
        for e in env:
            lead = f"    {e.name.ljust(width)}"
            out += textwrap.wrap(
                docstring_text(e.purpose), WIDTH, initial_indent=lead, subsequent_indent=" " * len(lead)
            )
    while out[-1] == "":
        out.pop()
    return [*out, '"""']
