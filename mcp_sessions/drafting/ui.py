"""The UI-style draft: a Playwright (sync API, pytest) test of the recorded user actions.

The rrweb events become steps; the API responses the page received between one action
and the next become that step's checks:

    navigate /           ──► page.goto(BASE_URL + "/")           GET /api/products → 200
    click link "Cart"    ──► get_by_role("link", name="Cart").click(); wait_for_url("**/cart")
    type into #coupon    ──► get_by_label("Coupon").fill(FIXTURES["coupon"])
    click button "Apply" ──► get_by_role("button", name="Apply").click()   POST /api/cart/coupon → 500

Selectors go from what a user sees to what a developer wrote: role and accessible name,
label, placeholder, visible text, test id, and the recorded CSS selector last. A click that
only focused the field typed into next is left out; a navigation right after a click on a
link is waited for, any other is a `page.goto`. Typed text is masked in recordings, so the
values come from a FIXTURES dict: the value a following request sent in a field of the same
name (or, failing a name, of the same length), else a made-up one; secrets (a password, a
value the ingest redacted) come from environment variables instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mcp_sessions import urls
from mcp_sessions.analysis.fingerprint import template_path
from mcp_sessions.drafting.code import (
    Call,
    Expr,
    comment,
    identifier,
    inline,
    lines,
    module_text,
    py_str,
)
from mcp_sessions.drafting.expectations import words
from mcp_sessions.drafting.model import DraftOptions, DraftStep, EnvVar, Header, RecordedCall, is_masked
from mcp_sessions.drafting.templates import BROWSER, SECRET, UI_HELPERS, imports
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.model import Event

_NAMED_ROLES = frozenset({"button", "link", "checkbox", "radio", "tab", "menuitem", "option", "switch"})
_FIELDS = frozenset({"input", "textarea", "select"})
_MADE_UP = {
    "email": "test@example.com",
    "number": "1",
    "tel": "5550100",
    "date": "2030-01-01",
    "url": "https://example.com",
}
_ACTIONS = frozenset({"navigation", "click", "dblclick", "input"})


@dataclass
class UiModule:
    source: str
    steps: list[DraftStep]
    env: list[EnvVar]
    notes: list[str]


@dataclass
class _Values:
    """The FIXTURES dict and the secrets typed values come from."""

    prefix: str
    fixtures: dict[str, tuple[str, str]] = field(default_factory=dict)  # key → (value, where it came from)
    secrets: dict[str, tuple[str, str]] = field(default_factory=dict)  # env name → (variable, purpose)
    taken: set[str] = field(default_factory=set)


def _field_name(detail: dict[str, Any]) -> str:
    return str(detail.get("name") or detail.get("id") or detail.get("label") or detail.get("placeholder") or "field")


def _typed_value(event: Event, later: Sequence[RecordedCall], values: _Values) -> Expr:
    """Where the text typed into `event`'s field comes from (see the module docstring)."""
    detail = dict(event.detail)
    name = _field_name(detail)
    own = set(words(name)) | set(words(str(detail.get("label") or "")))
    sent = next((c for c in later if c.body_kind == "json" and isinstance(c.body, dict)), None)
    leaves = [(k, v) for k, v in (sent.body.items() if sent else ()) if isinstance(v, str)]
    named = [(k, v) for k, v in leaves if set(words(k)) & own]
    sized = [(k, v) for k, v in leaves if len(v) == detail.get("length") and not is_masked(v)]
    found = named[0] if len(named) == 1 else sized[0] if len(sized) == 1 and not named else None
    if (found and is_masked(found[1])) or (found is None and detail.get("input_type") == "password"):
        env = f"{values.prefix}_{'_'.join(words(name)).upper() or 'SECRET'}"
        if env not in values.secrets:
            values.secrets[env] = (identifier(name, values.taken), f"what was typed into {event.target or name}")
        return Expr(values.secrets[env][0])
    key = "_".join(words(name)) or "field"
    kept = detail.get("value")
    if key not in values.fixtures:
        if isinstance(kept, str) and kept and not is_masked(kept):  # an input the redaction config keeps
            values.fixtures[key] = (kept, "as typed in the recording")
        elif found and sent:
            values.fixtures[key] = (found[1], f"sent as `{found[0]}` by {sent.method} {sent.path}")
        else:
            made_up = _MADE_UP.get(str(detail.get("input_type")), f"Test {detail.get('label') or name}")
            values.fixtures[key] = (made_up, "made up: the recording masks typed text")
    return Expr(f"FIXTURES[{py_str(key)}]")


def _locator(event: Event) -> Call:
    """The most user-facing way to find the element the event landed on."""
    d = dict(event.detail)
    tag, text, label = d.get("tag", ""), d.get("text"), d.get("label")
    role = d.get("role") or {"button": "button", "a": "link", "select": "combobox"}.get(tag, "")
    if d.get("input_type") in ("submit", "button", "reset"):
        role = "button"

    def by(method: str, *args: str, name: str | None = None, text: str | None = None) -> Call:
        shown = name if name is not None else text or ""
        cut = shown.endswith("…")  # the recording cut a long text: match its start
        value = shown[:-1] if cut else shown
        kwargs = (("name", value),) if name is not None else ()
        first = (*args, value) if name is None else args
        return Call(f"page.{method}", first, kwargs + ((("exact", True),) if not cut else ()))

    name = label or (text if role in _NAMED_ROLES else None)
    if role in _NAMED_ROLES and name:
        return by("get_by_role", role, name=name)
    if label and tag in _FIELDS:
        return by("get_by_label", text=label)
    if d.get("placeholder"):
        return by("get_by_placeholder", text=d["placeholder"])
    if text:
        return by("get_by_text", text=text)
    if d.get("testid"):
        return Call("page.get_by_test_id", (d["testid"],))
    return Call("page.locator", (event.target or tag or "body",))


def _response_path(call: RecordedCall) -> str:
    return "/".join("*" if s.startswith("{") else s for s in template_path(call.path).split("/"))


def draft_ui_module(
    events: Sequence[Event],
    calls: Sequence[RecordedCall],
    chosen: Sequence[int],
    options: DraftOptions,
    docstring: Header,
) -> UiModule:
    """The Playwright module for the user actions around the `chosen` calls (all of them: the whole session)."""
    picked = [calls[i] for i in chosen]
    keys = {(c.time_ns, c.method, c.trace_id): c for c in calls}
    timeline = [e for e in events if e.kind in _ACTIONS or (e.kind == "network" and e.time_ns is not None)]
    first, last = picked[0].time_ns, picked[-1].time_ns
    if len(picked) < len(calls) and first is not None and last is not None:
        start = max(
            (i for i, e in enumerate(timeline) if e.kind == "navigation" and (e.time_ns or 0) <= first), default=0
        )
        timeline = [e for e in timeline[start:] if e.time_ns is None or e.time_ns <= last]
    values = _Values(options.env_prefix)
    body: list[str] = []
    steps: list[DraftStep] = []
    viewport: dict[str, int] = {"width": 1280, "height": 720}
    actions = [i for i, e in enumerate(timeline) if e.kind in _ACTIONS]
    n = 0
    while n < len(actions):
        event = timeline[actions[n]]
        later = [c for c in calls if c.time_ns is not None and c.time_ns >= (event.time_ns or 0)]
        code = _action(event, timeline, actions, n, later, values, viewport, not steps)
        waits = n + 1 < len(actions) and _waited(timeline[actions[n + 1]], event)
        if code is not None and waits:  # the navigation a link click causes is part of the click's step
            n += 1
            code += _action(timeline[actions[n]], timeline, actions, n, later, values, viewport, False) or []
        until = actions[n + 1] if n + 1 < len(actions) else len(timeline)
        start, n = actions[n], n + 1
        if code is None:
            continue
        steps.append(DraftStep(len(steps) + 1, "action", event.summary, None, event.time_ns))
        caused = [keys[k] for e in timeline[start + 1 : until] if (k := (e.time_ns, e.method, e.trace_id)) in keys]
        checks: list[str] = []
        seen: set[tuple[str, str]] = set()
        for c in caused:
            path = _response_path(c)
            if (c.method, path) in seen or c.status is None:
                continue
            seen.add((c.method, path))
            fixed = options.recorded_errors == "expect_fixed" and c.status >= 500
            method = "responses.expect_fixed" if fixed else "responses.expect"
            checks += lines(Call(method, (Expr("mark"), c.method, path, c.status)), 1)
        body += ["", comment(f"{len(steps)}. {event.summary}", 1)]
        body += (["    mark = responses.mark()"] if checks else []) + code + checks
    if not steps:
        raise InvalidArgumentError(
            "no recorded user action leads to the chosen requests; widen the focus or draft style='api'"
        )
    env = [
        EnvVar(f"{options.env_prefix}_BASE_URL", "the app under test, e.g. http://127.0.0.1:8000", True),
        EnvVar(f"{options.env_prefix}_CHROMIUM", "a Chromium to use instead of Playwright's own", False),
    ]
    env += [EnvVar(name, purpose, True) for name, (_, purpose) in values.secrets.items()]
    made_up = [k for k, (_, why) in values.fixtures.items() if why.startswith("made up")]
    notes = [f"made-up values to type (the recording masks typed text): {', '.join(made_up)}"] if made_up else []
    source = _module(docstring(notes, env), values, viewport, body, options)
    return UiModule(source, steps, env, notes)


def _waited(navigation: Event, before: Event) -> bool:
    """True when the navigation follows a click on a link: the click caused it, the test waits for it."""
    return navigation.kind == "navigation" and before.kind == "click" and before.detail.get("role") == "link"


def _action(
    event: Event,
    timeline: Sequence[Event],
    actions: Sequence[int],
    n: int,
    later: Sequence[RecordedCall],
    values: _Values,
    viewport: dict[str, int],
    is_first: bool,
) -> list[str] | None:
    if event.kind == "navigation":
        parts = urls.split(event.url or "/")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if is_first:
            width, height = event.detail.get("width"), event.detail.get("height")
            if isinstance(width, int) and isinstance(height, int):
                viewport.update(width=width, height=height)
        if n and _waited(event, timeline[actions[n - 1]]):
            return lines(Call("page.wait_for_url", ("**" + (parts.path or "/"),)), 1)
        return lines(Call("page.goto", (Expr(f"BASE_URL + {py_str(target)}"),)), 1)
    following = timeline[actions[n + 1]] if n + 1 < len(actions) else None
    only_focus = following is not None and following.kind == "input" and following.target == event.target
    if event.kind == "click" and only_focus and event.detail.get("tag") in _FIELDS:
        return None  # the click only put the cursor in the field typed into next
    locator = _locator(event)
    if event.kind in ("click", "dblclick"):
        return lines(locator, 1, "", f".{event.kind}()")
    role, tag = event.detail.get("role"), event.detail.get("tag")
    if role in ("checkbox", "radio"):
        return lines(locator, 1, "", f".{'uncheck' if event.detail.get('isChecked') is False else 'check'}()")
    value = _typed_value(event, later, values)
    verb = "select_option" if tag == "select" else "fill"
    return lines(locator, 1, "", f".{verb}({value.code})")


def _module(
    header: list[str], values: _Values, viewport: dict[str, int], body: list[str], options: DraftOptions
) -> str:
    stdlib = ["import os", "from collections.abc import Callable, Iterator", "from urllib.parse import urlsplit"]
    third = ["import pytest", "from playwright.sync_api import Page, Response, sync_playwright"]
    out = [*header, "", *imports(stdlib, third), ""]
    out += [f'BASE_URL_VAR = "{options.env_prefix}_BASE_URL"', f'CHROMIUM_VAR = "{options.env_prefix}_CHROMIUM"']
    out += ['BASE_URL = os.environ.get(BASE_URL_VAR, "").rstrip("/")', f"VIEWPORT = {inline(viewport)}"]
    if values.fixtures:
        out.append("FIXTURES = {")
        for key, (value, why) in values.fixtures.items():
            out.append(comment(why, 1))
            out += lines(value, 1, f"{py_str(key)}: ", ",")
        out.append("}")
    helpers = ([SECRET] if values.secrets else []) + [UI_HELPERS, BROWSER]
    for text in helpers:
        out += ["", *text.strip("\n").split("\n")]
    out += ["", "", "def test_replay_user_actions(page: Page) -> None:", "    responses = Responses(page)"]
    for name, (var, _) in values.secrets.items():
        out.append(f'    {var} = secret("{name}")')
    out += body
    return module_text(out)
