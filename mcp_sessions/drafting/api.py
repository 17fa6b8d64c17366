"""The API-style draft: a pytest module that replays recorded requests with httpx.

Steps run in recorded order on one client, so cookies the app sets (a login) carry on. Each
step asserts the status, the content type and the JSON body (see `regression_expect`).

Chaining. A value handed out earlier and sent again later is captured from its response and
reused: an id or token in the answer to a POST, PUT, ..., or any uuid- or token-like value.
Strings must match exactly; a number only where the name around it agrees (`order_id: 17`
then `/orders/17`), since small numbers repeat by chance. Redacted values cannot match, so
they are matched by name: a redacted `card_token` in an answer feeds a redacted
`card_token` sent later, and a redacted `*token` a redacted Authorization header (as Bearer).
What nothing provides comes from environment variables; a header that carried the
session's own id gets a fresh value per run (so runs do not share a cart):

    POST /api/login   {"password": ▒}  ◄── APP_PASSWORD       → {"api_token": ▒} ─┐ captured
    GET  /api/account  Authorization: ▒ ◄── f"Bearer {api_token}" ◄───────────────┘

A focused draft keeps the requests its steps take values or cookies from, as setup steps.
Identical consecutive requests with identical recorded answers become one loop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_sessions.analysis.fingerprint import request_fingerprint
from mcp_sessions.drafting.code import (
    INDENT,
    Call,
    Expr,
    comment,
    identifier,
    inline,
    lines,
    module_text,
    py_str,
)
from mcp_sessions.drafting.expectations import expect_body, is_id_key, looks_random, path_expr, words
from mcp_sessions.drafting.model import DraftOptions, DraftStep, EnvVar, Header, RecordedCall, is_masked
from mcp_sessions.drafting.queries import query_bound
from mcp_sessions.drafting.templates import CHECK, CHECK_FIXED, MATCHES, SECRET, TELEMETRY, WITHIN, imports
from mcp_sessions.numbers import whole_number

LATENCY_FLOOR_MS = 100
OTLP_WAIT_S = 15  # how long a drafted test waits for the app to export a request's spans
_SESSION_WORDS = frozenset({"session", "sessionid", "sid"})
_AUTH_WORDS = frozenset({"access", "api", "auth", "bearer", "id", "jwt", "login", "session", "user"})
_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
_CAPTURE_SCAN = 50  # members of one object looked at for values to capture


@dataclass
class Capture:
    """A value in a recorded answer that a later request may send again."""

    provider: int  # order of the call whose answer holds it
    path: tuple[str | int, ...]
    key: str
    value: Any
    masked: bool
    resource: str  # `order` for an answer to POST /api/orders: what a bare `id` identifies
    var: str | None = None  # the variable, once a request uses it


@dataclass
class Plan:
    captures: list[Capture] = field(default_factory=list)
    secrets: dict[str, tuple[str, str]] = field(default_factory=dict)  # env name → (variable, what it is)
    uses_run_id: bool = False
    deps: dict[int, set[int]] = field(default_factory=dict)  # order → orders it takes values from
    request: dict[int, dict[str, Any]] = field(default_factory=dict)  # order → the request's parts
    taken: set[str] = field(default_factory=set)


def _singular(segment: str) -> str:
    return segment[:-1] if segment.endswith("s") and len(segment) > 3 else segment


class _Planner:
    """Walks the calls in order, resolving each request against what earlier answers handed out."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.plan = prefix, Plan()
        self.deps: set[int] = set()

    def run(self, calls: Sequence[RecordedCall]) -> Plan:
        for call in calls:
            self.deps = set()
            self.plan.request[call.order] = self._request(call)
            setters = [c.order for c in calls if c.order < call.order and c.sets_cookie]
            if call.cookies and setters:
                self.deps.add(setters[-1])
            elif call.cookies:
                cookies = {n: self._secret(f"cookie_{n}", f"the {n} cookie (redacted)") for n in call.cookies}
                self.plan.request[call.order]["cookies"] = cookies
            self.plan.deps[call.order] = self.deps
            if call.response is not None:
                resource = next((_singular(s) for s in reversed(call.path.split("/")) if s and not s.isdigit()), "")
                self._collect(call, call.response, (), resource)
        return self.plan

    def _collect(self, call: RecordedCall, value: Any, path: tuple[str | int, ...], resource: str) -> None:
        if isinstance(value, dict):
            for key, item in list(value.items())[:_CAPTURE_SCAN]:
                self._collect(call, item, (*path, key), resource)
        elif isinstance(value, list):
            for index, item in enumerate(value[:3]):
                self._collect(call, item, (*path, index), resource)
        elif path and isinstance(path[-1], str) and isinstance(value, str | int) and not isinstance(value, bool):
            key = path[-1]
            handed_out = call.method != "GET" and is_id_key(key)
            if is_masked(value) or handed_out or (isinstance(value, str) and looks_random(value)):
                self.plan.captures.append(Capture(call.order, path, key, value, is_masked(value), resource))

    def _use(self, capture: Capture) -> Expr:
        if capture.var is None:
            capture.var = identifier(capture.key, self.plan.taken)
        self.deps.add(capture.provider)
        return Expr(capture.var)

    def _by_value(self, value: Any, key: str | None, segment_before: str | None = None) -> Expr | None:
        """The latest capture holding `value`; a number only where the name around it agrees."""
        for capture in reversed(self.plan.captures):
            if capture.masked or capture.value != value or type(capture.value) is not type(value):
                continue
            if isinstance(value, str):
                return self._use(capture) if len(value) >= 4 else None
            stem = words(capture.key)[:-1] or [capture.resource]
            around = words(key or "")[:-1] if key else [_singular(segment_before or "")]
            if key == capture.key or (around and around == stem):
                return self._use(capture)
        return None

    def _by_name(self, key: str) -> Expr | None:
        for capture in reversed(self.plan.captures):
            if capture.masked and words(capture.key) == words(key):
                return self._use(capture)
        return None

    def _token(self) -> Expr | None:
        """The redacted token an Authorization header most likely carried: an auth-sounding one, the latest."""
        tokens = [c for c in self.plan.captures if c.masked and "token" in words(c.key)]
        if not tokens:
            return None
        best = max(enumerate(tokens), key=lambda it: (bool(set(words(it[1].key)) & _AUTH_WORDS), it[0]))
        return self._use(best[1])

    def _secret(self, key: str, purpose: str) -> Expr:
        name = f"{self.prefix}_{'_'.join(words(key)).upper() or 'SECRET'}"
        if name not in self.plan.secrets:
            self.plan.secrets[name] = (identifier(key, self.plan.taken), purpose)
        return Expr(self.plan.secrets[name][0])

    def _value(self, value: Any, key: str | None, where: str) -> Any:
        if isinstance(value, dict):
            return {k: self._value(v, k, where) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v, key, where) for v in value]
        if is_masked(value):
            name = key or "value"
            return self._by_name(name) or self._secret(name, f"`{name}` in {where} (redacted in the recording)")
        return self._by_value(value, key) or value

    def _request(self, call: RecordedCall) -> dict[str, Any]:
        where = f"{call.method} {call.path}"
        raw = call.path.split("/")
        segments: list[Any] = []
        for i, segment in enumerate(raw):
            before = raw[i - 1] if i else None
            if is_masked(segment):
                segments.append(self._secret(f"{before or 'path'}_segment", f"a path segment of {where} (redacted)"))
                continue
            number = whole_number(segment) if len(segment) < 12 else None
            value: str | int = segment if number is None else number
            segments.append(self._by_value(value, None, before) or segment)
        query = [(k, self._value(v, k, f"the query of {where}")) for k, v in call.query]
        headers: dict[str, Any] = {}
        for name, value in call.headers.items():
            if not is_masked(value):
                headers[name] = self._by_value(value, None) or value
            elif set(words(name)) & _SESSION_WORDS:
                self.plan.uses_run_id, headers[name] = True, Expr("run_id")
            elif name == "authorization" and (token := self._token()) is not None:
                headers[name] = Expr(f'f"Bearer {{{token.code}}}"')
            else:
                headers[name] = self._by_name(name) or self._secret(name, f"the {name} header of {where} (redacted)")
        body: Any = call.body
        if call.body_kind == "json":
            body = self._value(call.body, None, f"the body of {where}")
        elif call.body_kind == "text" and is_masked(call.body):
            body = self._secret("body", f"the body of {where} (redacted)")
        return {"segments": segments, "query": query, "headers": headers, "body": body}


def _closure(chosen: Sequence[int], deps: dict[int, set[int]]) -> list[int]:
    wanted, stack = set(chosen), list(chosen)
    while stack:
        for dep in deps.get(stack.pop(), ()):
            if dep not in wanted:
                wanted.add(dep)
                stack.append(dep)
    return sorted(wanted)


@dataclass
class ApiModule:
    """The drafted module and what the header and the tool's answer say about it."""

    source: str
    steps: list[DraftStep]
    env: list[EnvVar]
    notes: list[str]


def draft_api_module(
    calls: Sequence[RecordedCall], chosen: Sequence[int], options: DraftOptions, docstring: Header
) -> ApiModule:
    """The module replaying `chosen` (and the calls they take values or cookies from) in order.

    `docstring(notes, env)` writes the header lines once the notes and variables are known.
    """
    picked = [calls[i] for i in _closure(chosen, _Planner(options.env_prefix).run(calls).deps)]
    plan = _Planner(options.env_prefix).run(picked)
    shared = _shared_headers(picked, plan)
    steps: list[DraftStep] = []
    body: list[str] = []
    notes: list[str] = []
    used: set[str] = {"check"}
    for group in _groups(picked, plan):
        role: Literal["replay", "setup"] = "replay" if group[0].order in chosen else "setup"
        steps.append(DraftStep(len(steps) + 1, role, _summary(group), group[0].trace_id, group[0].time_ns))
        body += _step(group, len(steps), role, plan, shared, options, used, notes)
    setups = sum(step.role == "setup" for step in steps)
    if setups:
        notes.append(
            f"{setups} (setup) steps lie outside the focus: later steps take ids, tokens or cookies from their answers"
        )
    unknown = sum(c.body_kind == "unknown" for c in picked)
    if unknown:
        notes.append(
            f"{unknown} of the requests are sent without a body: backend traces do not record request bodies, "
            "so their recorded status may only recur once you add the body the client sent"
        )
    env = [EnvVar(f"{options.env_prefix}_BASE_URL", "the app under test, e.g. http://127.0.0.1:8000", True)]
    if any(line.lstrip().startswith("at_most_queries(") for line in body):
        env.append(
            EnvVar(
                f"{options.env_prefix}_OTLP_PORT",
                "where the test receives the app's spans (default 4318): run the app with "
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces and OTEL_BSP_SCHEDULE_DELAY=100",
                False,
            )
        )
    env += [EnvVar(name, purpose, True) for name, (_, purpose) in plan.secrets.items()]
    source = _module(docstring(notes, env), plan, shared, body, used, options)
    return ApiModule(source, steps, env, notes)


def _summary(group: Sequence[RecordedCall]) -> str:
    call = group[0]
    took = f" in {call.duration_ms:.0f} ms" if call.duration_ms is not None else ""
    times = f", {len(group)} times in a row" if len(group) > 1 else ""
    return f"{call.method} {call.target} → {call.status or '?'}{took}{times}"


def _signature(call: RecordedCall, plan: Plan) -> str:
    parts = plan.request[call.order]
    request = [call.method, inline(parts["segments"]), inline(parts["query"]), inline(parts["body"])]
    return json.dumps([*request, sorted(call.headers.items()), call.status, call.response_text], default=str)


def _groups(picked: Sequence[RecordedCall], plan: Plan) -> list[list[RecordedCall]]:
    providers = {c.provider for c in plan.captures if c.var}
    groups: list[list[RecordedCall]] = []
    for call in picked:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and not {call.order, last.order} & providers
            and "cookies" not in plan.request[call.order]
            and _signature(call, plan) == _signature(last, plan)
        ):
            groups[-1].append(call)
        else:
            groups.append([call])
    return groups


def _shared_headers(picked: Sequence[RecordedCall], plan: Plan) -> dict[str, Any]:
    """Headers every request sends with the same value: set once on the client."""
    first = plan.request[picked[0].order]["headers"] if picked else {}
    return {
        name: value
        for name, value in first.items()
        if all(plan.request[c.order]["headers"].get(name) == value for c in picked)
    }


def _request_call(call: RecordedCall, parts: dict[str, Any], shared: dict[str, Any]) -> Call:
    segments = parts["segments"]
    if any(isinstance(s, Expr) for s in segments):
        template = "/".join(
            "{" + s.code + "}" if isinstance(s, Expr) else s.replace("{", "{{").replace("}", "}}") for s in segments
        )
        path: Any = Expr("f" + py_str(template))
    else:
        path = call.path
    kwargs: list[tuple[str, Any]] = []
    if parts["query"]:
        grouped: dict[str, list[Any]] = {}
        for key, value in parts["query"]:
            grouped.setdefault(key, []).append(value)
        kwargs.append(("params", {k: v[0] if len(v) == 1 else v for k, v in grouped.items()}))
    headers = {k: v for k, v in parts["headers"].items() if k not in shared}
    if headers:
        kwargs.append(("headers", headers))
    if call.body_kind == "json":
        kwargs.append(("json", parts["body"]))
    elif call.body_kind == "text":
        kwargs.append(("content", parts["body"]))
    method = call.method.lower()
    if method in _METHODS:
        return Call(f"client.{method}", (path,), tuple(kwargs))
    return Call("client.request", (call.method, path), tuple(kwargs))


def _step(
    group: Sequence[RecordedCall],
    number: int,
    role: str,
    plan: Plan,
    shared: dict[str, Any],
    options: DraftOptions,
    used: set[str],
    notes: list[str],
) -> list[str]:
    call, level = group[0], 2
    setup = "(setup) " if role == "setup" else ""
    out = ["", comment(f"{number}. {setup}{_summary(group)}", level)]
    if call.trace_id:
        out.append(comment(f"   trace {call.trace_id}", level))
    if call.body_kind == "unknown":
        out.append(comment("   its body was not recorded (a backend trace): add the one the client sent", level))
    if len(group) > 1:
        out.append(f"{INDENT * level}for _ in range({len(group)}):")
        level += 1
    pad, parts = INDENT * level, plan.request[call.order]
    for name, value in parts.get("cookies", {}).items():
        out.append(f"{pad}client.cookies.set({py_str(name)}, {value.code})")
    out += lines(_request_call(call, parts, shared), level, "r = ")
    status = call.status or 0
    if options.recorded_errors == "expect_fixed" and status >= 500:
        used.add("check_fixed")
        out.append(f"{pad}check_fixed(r, {status})")
    else:
        chained: dict[tuple[str, Any], str] = {}
        for c in plan.captures:
            if c.var and not c.masked and c.provider < call.order:
                chained[("" if isinstance(c.value, str) else c.key, c.value)] = c.var
        expected = expect_body(call, chained) if role == "replay" else None
        captured = [c for c in plan.captures if c.provider == call.order and c.var]
        wants_body = bool(captured) or (expected is not None and call.response_type is not None)
        args: tuple[Any, ...] = (Expr("r"), status, *((call.response_type,) if call.response_type else ()))
        json_body = wants_body and "json" in (call.response_type or "")
        out += lines(Call("check", args), level, "body = " if json_body else "")
        if expected is not None and json_body:
            used.add("matches")
            out += lines(Call("matches", (Expr("body"), expected.body)), level)
            out += [pad + line for line in expected.asserts]
            notes += [n for n in expected.notes if n not in notes]
        for capture in captured if json_body else ():
            out.append(f"{pad}{capture.var} = {path_expr(capture.path)}")
    key = request_fingerprint(call.method, call.path)
    bound = query_bound(call, key, options) if options.count_queries else None
    if bound is not None:
        used.add("queries")
        out += lines(Call("at_most_queries", (Expr("r"), Expr("telemetry"), *bound)), level)
    baseline = (options.baseline_ms or {}).get(key)
    recorded = [c.duration_ms for c in group if c.duration_ms is not None]
    if options.latency_factor and (baseline is not None or recorded):
        used.add("within")
        took = f"{baseline:.1f})  # the baseline session's time" if baseline is not None else f"{max(recorded):.1f})"
        out.append(f"{pad}within(r, {took}")
    return out


def _module(
    header: list[str], plan: Plan, shared: dict[str, Any], body: list[str], used: set[str], options: DraftOptions
) -> str:
    stdlib = ["import os", "from typing import Any"] + (["import uuid"] if plan.uses_run_id else [])
    if "queries" in used:
        stdlib += [f"import {name}" for name in ("base64", "gzip", "json", "re", "secrets", "threading", "time")]
        stdlib += ["from collections.abc import Iterable, Iterator"]
        stdlib += ["from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer"]
    top = [*header, "", *imports(stdlib, ["import httpx", "import pytest"]), ""]
    base = f"{options.env_prefix}_BASE_URL"
    top.append(f'BASE_URL = os.environ.get("{base}", "")')
    if "queries" in used:
        top += [f'OTLP_PORT_VAR = "{options.env_prefix}_OTLP_PORT"']
        top += ["OTLP_PORT = int(os.environ.get(OTLP_PORT_VAR) or 4318)", f"OTLP_WAIT_S = {OTLP_WAIT_S}"]
    if "within" in used:
        top += [f"LATENCY_FACTOR = {options.latency_factor!r}", f"LATENCY_FLOOR_MS = {LATENCY_FLOOR_MS}"]
    helpers = [("secret", SECRET), ("check", CHECK), ("check_fixed", CHECK_FIXED), ("matches", MATCHES)]
    helpers += [("within", WITHIN), ("queries", TELEMETRY)]
    wanted = used | ({"secret"} if plan.secrets else set())
    out = top + [text for name, text in helpers if name in wanted for text in ("", *text.strip("\n").split("\n"))]
    out += ["", "", "def test_replay_session() -> None:", "    if not BASE_URL:"]
    out.append(f'        pytest.skip("set {base} to the app under test")')
    for name, (var, _) in plan.secrets.items():
        out.append(f'    {var} = secret("{name}")')
    if plan.uses_run_id:
        out.append("    run_id = uuid.uuid4().hex  # the session header gets a fresh value each run")
    client = Call("httpx.Client", (), (("base_url", Expr("BASE_URL")),) + ((("headers", shared),) if shared else ()))
    client = Call(client.func, (), (*client.kwargs, ("timeout", 30)))
    if "queries" in used:
        hooks = {"request": [Expr("telemetry.tag")]}
        client = Call(client.func, (), (*client.kwargs, ("event_hooks", hooks)))
        out.append("    telemetry = Telemetry(OTLP_PORT)")
    out += lines(client, 1, "with telemetry, " if "queries" in used else "with ", " as client:")
    out += body[1:] if body and body[0] == "" else body
    return module_text(out)
