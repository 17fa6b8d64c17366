"""Stack excerpts keep the throw site and the first application frame, whichever runtime printed them.

Python and Node stacks are produced here, at test time, by the real runtimes; the Java stack
was produced on this machine by OpenJDK 17 (tests/data/stacks/make_java_stack.sh); the Go and
.NET stacks are documented real outputs (tests/data/stacks/SOURCES.md says where each is from).
"""

from __future__ import annotations

import json
import subprocess
import traceback
from pathlib import Path

import pytest

from mcp_sessions.analysis.stacks import STACK_LINES, excerpt, parse_stack

DATA = Path(__file__).parent / "data" / "stacks"

GO_PANIC = (DATA / "go-panic.txt").read_text()
GO_DUMP = (DATA / "go-goroutines.txt").read_text()
GO_OTEL = (DATA / "go-otel-sdk.txt").read_text()
DOTNET_PARSE = (DATA / "dotnet-parse.txt").read_text()
DOTNET_ASPNET = (DATA / "dotnet-aspnet.txt").read_text()
DOTNET_INNER = (DATA / "dotnet-inner.txt").read_text()
GOINACTION = "/Users/bill/Spaces/Go/Projects/src/github.com/goinaction/code/temp/"


def _node(tmp_path: Path, script: str, files: dict[str, str] | None = None) -> str:
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    run = subprocess.run(["node", "-e", script], capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _python_chained() -> str:
    def parse(raw: str) -> object:
        return json.loads(raw)

    def load(raw: str) -> object:
        try:
            return parse(raw)
        except ValueError as exc:
            raise RuntimeError("cart unreadable") from exc

    try:
        load("{oops")
    except RuntimeError as exc:
        return "".join(traceback.format_exception(exc))
    raise AssertionError("load did not raise")


def test_python_keeps_the_throw_site_and_names_the_first_application_frame() -> None:
    text = _python_chained()
    stack = parse_stack(text)
    assert stack.language == "python"
    assert stack.throw_site is not None and stack.throw_site.file.endswith("json/decoder.py")
    assert stack.app_frame is not None and stack.app_frame.function == "parse"
    assert stack.app_frame.file == __file__
    lines = excerpt(stack)
    assert len(lines) <= STACK_LINES
    assert any("json/decoder.py" in line for line in lines)  # the throw site of the root cause
    assert any(", in parse" in line for line in lines)  # the code location
    assert lines[-1] == "RuntimeError: cart unreadable"  # the exception raised last
    assert any(line.startswith("json.decoder.JSONDecodeError") for line in lines)


def test_node_nested_call_keeps_the_throw_site_cut_from_the_right_end(tmp_path: Path) -> None:
    script = """
    function price(item) { return item.price.amount }
    function total(items) { return items.map(price).reduce((a, b) => a + b, 0) }
    function checkout(cart) { return total(cart.items) }
    function a() { return b() } function b() { return c() } function c() { return d() }
    function d() { return checkout({items: [{price: {amount: 1}}, {}]}) }
    try { a() } catch (e) { console.log(e.stack) }
    """
    text = _node(tmp_path, script)
    stack = parse_stack(text)
    assert stack.language == "javascript"
    assert stack.throw_site is not None and stack.throw_site.function == "price"
    assert stack.app_frame is stack.throw_site
    lines = excerpt(stack)
    assert lines[0].startswith("TypeError: Cannot read properties of undefined")
    assert "at price ([eval]" in lines[1]  # the throw site survives, first after the message
    assert len(lines) <= STACK_LINES and lines[-1] == "…"


def test_node_library_frames_are_skipped_for_the_code_location(tmp_path: Path) -> None:
    files = {
        "node_modules/strict-json/index.js": (
            "exports.parse = function parse(text) {\n"
            "  if (!text.startsWith('{')) throw new SyntaxError('not an object')\n"
            "  return JSON.parse(text)\n}\n"
        ),
        "app/cart.js": (
            "const strict = require('strict-json')\n"
            "exports.loadCart = function loadCart(raw) {\n  return strict.parse(raw)\n}\n"
        ),
    }
    script = "try { require('./app/cart.js').loadCart('[1]') } catch (e) { console.log(e.stack) }"
    stack = parse_stack(_node(tmp_path, script, files))
    assert stack.throw_site is not None and "node_modules/strict-json" in (stack.throw_site.file or "")
    assert stack.app_frame is not None and (stack.app_frame.function or "").endswith("loadCart")
    assert stack.app_frame.file is not None and stack.app_frame.file.endswith("app/cart.js")
    assert stack.app_frame.line == 3
    lines = excerpt(stack)
    assert any("node_modules/strict-json" in line for line in lines) and any("loadCart" in line for line in lines)


def test_java_root_cause_gives_the_throw_site_and_the_application_frame() -> None:
    text = (DATA / "java-caused-by.txt").read_text()
    stack = parse_stack(text)
    assert stack.language == "java"
    assert len(stack.blocks) == 3
    assert (
        stack.throw_site is not None and stack.throw_site.function == "java.lang.NumberFormatException.forInputString"
    )
    app = stack.app_frame
    assert app is not None and (app.function, app.file, app.line) == ("shop.Checkout.parseQuantity", "Checkout.java", 5)
    lines = excerpt(stack)
    assert lines[0] == "java.lang.RuntimeException: checkout failed"
    assert any(line.startswith("Caused by: java.lang.NumberFormatException") for line in lines)
    assert any("shop.Checkout.parseQuantity(Checkout.java:5)" in line for line in lines)
    assert len(lines) <= STACK_LINES


@pytest.mark.parametrize(
    ("text", "throw_function", "app"),
    [
        (GO_PANIC, "main.iPanic", ("main.iPanic", "/tmp/sandbox634668020/prog.go", 11)),
        (
            GO_DUMP,
            "main.Example",
            ("main.Example", GOINACTION + "main.go", 9),
        ),
        # the SDK's own test panics: past the recording machinery (recordStackTrace, span.End, panic),
        # its frame is the throw site; testify lies in the module cache, testing in the standard library
        (
            GO_OTEL,
            "go.opentelemetry.io/otel/sdk/trace.TestSpanCapturesPanicWithStackTrace.func1",
            (
                "go.opentelemetry.io/otel/sdk/trace.TestSpanCapturesPanicWithStackTrace.func1",
                "Documents/otel-go-core/opentelemetry-go/sdk/trace/trace_test.go",
                1425,
            ),
        ),
    ],
)
def test_go_stacks(text: str, throw_function: str, app: tuple[str, str, int] | None) -> None:
    stack = parse_stack(text)
    assert stack.language == "go"
    assert stack.throw_site is not None and stack.throw_site.function == throw_function
    frame = stack.app_frame
    assert (None if frame is None else (frame.function, frame.file, frame.line)) == app
    lines = excerpt(stack)
    assert len(lines) <= STACK_LINES
    assert not any("runtime.forcegchelper" in line for line in lines)  # other goroutines are not this failure
    assert any(throw_function + "(" in line for line in lines)


@pytest.mark.parametrize(
    ("text", "app"),
    [
        (DOTNET_PARSE, ("MyNamespace.IntParser.Parse(String s)", "C:\\apps\\MyNamespace\\IntParser.cs", 11)),
        (DOTNET_ASPNET, ("integration_test_app.Controllers.AppController.OutgoingHttp()", None, 21)),
        (DOTNET_INNER, ("Shop.Cart.ParseQuantity(String raw)", "/src/Shop/Cart.cs", 31)),
    ],
)
def test_dotnet_stacks(text: str, app: tuple[str, str | None, int]) -> None:
    stack = parse_stack(text)
    assert stack.language == "dotnet"
    frame = stack.app_frame
    assert frame is not None and (frame.function, frame.line) == (app[0], app[2])
    if app[1]:
        assert frame.file == app[1]
    lines = excerpt(stack)
    assert lines[0] == text.splitlines()[0]
    assert any(app[0] in line for line in lines) and len(lines) <= STACK_LINES


def test_unknown_text_keeps_its_first_lines_and_nothing_raises() -> None:
    node_fs = "Error: ENOENT: no such file or directory, access '/app/middleware.tsx'"  # highlight-fs.json
    assert excerpt(parse_stack(node_fs)) == (node_fs,)
    assert parse_stack(node_fs).app_frame is None
    for hostile in ("", "\n\n", "at (", 'File "x", line', "goroutine 1 [", "\tat a.b(", "x" * 100_000, "—\u2028—"):
        assert len(excerpt(parse_stack(hostile))) <= STACK_LINES
