"""Recorded stack traces: their frames, the throw site, the first application frame, an excerpt.

Runtimes print stacks from opposite ends, so "the last eight lines" keeps the throw site
for one and drops it for another:

    Python   Traceback (most recent call last):      outermost call first,
               File "app/cart.py", line 12, in load   the throw site LAST,
               File ".../json/decoder.py", ...        the exception line at the end
             ValueError: ...
    V8 / JS  TypeError: ...                           the throw site FIRST
                 at parse (/app/node_modules/x.js:3:9)
                 at load (/app/cart.js:12:5)
    Java     java.lang.IllegalStateException: ...     the throw site first; each `Caused by:`
                at shop.Cart.load(Cart.java:12)       block starts at its own throw site, the
             Caused by: java.lang.NumberFormat...      last cause being where it all began
                at java.base/java.lang.Integer...
    Go       panic: ... / goroutine 1 [running]:      two lines a frame, throw site first,
             main.load(...)                           after the panic/runtime machinery
                /app/main.go:12 +0x1d
    .NET     System.FormatException: ...              the throw site first; `---> Inner:`
                at Shop.Cart.Load() in Cart.cs:line 12  chains and `--- End of inner ...`

Every stack is read into frames ordered throw site first, grouped in blocks (one per
chained exception, the root cause's block last). A frame is library code when it lies in
site-packages, node_modules, a module cache or vendor folder, or the runtime (stdlib paths,
`node:internal`, `java.`, `System.`, Go packages without a domain). The code location is
the first application frame counted from the root cause's throw site outward (then from
the next block out); the excerpt keeps the exception lines, the throw site and that frame,
filling the rest with the frames nearest the throw site, in the order the runtime printed.
Text that matches no known shape keeps its first lines.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from mcp_sessions.numbers import whole_number

Language = Literal["python", "javascript", "java", "go", "dotnet", "unknown"]

STACK_LINES = 10
LINE_CHARS = 240

_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<func>.*\S))?\s*$')
_PY_CHAIN = re.compile(
    r"^(?:During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)\s*$"
)
_JAVA_FRAME = re.compile(
    r"^\s*at (?:(?P<module>[\w.$@-]+(?:/[\w.$@-]*)?)/)?(?P<func>[\w$.<>\-]+)\((?P<src>[^()\s][^()]*)\)\s*$"
)
_JAVA_CAUSE = re.compile(r"^\s*(?:Caused by|Suppressed): ")
_JAVA_MORE = re.compile(r"^\s*\.\.\. \d+ (?:more|common frames omitted)\s*$")
_DOTNET_FRAME = re.compile(r"^\s*at (?P<func>[^\s(][^(]*\(.*?\))(?: in (?P<file>.+?):line (?P<line>\d+))?\s*$")
_DOTNET_MARK = re.compile(r"^\s*--- End of (?:inner exception stack trace|stack trace from previous location)")
_JS_FRAME = re.compile(r"^\s*at (?:(?P<func>.+?) \((?P<loc>[^()]*|.*\(.*\).*)\)|(?P<bare>\S+))\s*$")
_JS_GECKO = re.compile(r"^(?P<func>[^@\s]*)@(?P<loc>.+?:\d+(?::\d+)?)\s*$")
_GO_GOROUTINE = re.compile(r"^goroutine \d+ \[")
_GO_LOCATION = re.compile(r"^\s+(?P<file>\S+?\.(?:go|s)):(?P<line>\d+)(?: \+0x[0-9a-f]+)?\s*$")

_PY_LIBRARY = re.compile(r"site-packages|dist-packages|[/\\]lib[/\\]python\d|^<frozen |[/\\]Lib[/\\]")
_JS_LIBRARY = re.compile(r"node_modules|^node:|^internal/|^<anonymous>$|^native$|^index \d+$|webpack/bootstrap")
_JAVA_LIBRARY = re.compile(
    r"^(?:java|javax|jakarta|jdk|sun|com\.sun|kotlin|kotlinx|scala|groovy|org\.springframework|org\.apache"
    r"|io\.netty|reactor|io\.grpc|com\.google|org\.hibernate|com\.fasterxml|io\.opentelemetry|org\.junit"
    r"|org\.eclipse|ch\.qos|io\.micrometer|io\.undertow|org\.glassfish|okhttp3|retrofit2|com\.zaxxer"
    r"|org\.postgresql|com\.mysql|io\.vertx|io\.quarkus|org\.jboss)\."
)
_DOTNET_LIBRARY = re.compile(
    r"^(?:System|Microsoft|Npgsql|Newtonsoft|Grpc|Google|OpenTelemetry|Polly)\.|^lambda_method"
)
_GO_LIBRARY_PATH = re.compile(r"/pkg/mod/|/vendor/|/usr/local/go/src/|/usr/lib/go[^/]*/src/|/libexec/src/|^\$GOROOT/")
# Frames of the machinery that records a stack, never where anything was thrown.
_RECORDER = re.compile(
    r"^(?:runtime/debug\.Stack|runtime\.gopanic|panic|runtime\.panic\w*|runtime\.sigpanic"
    r"|go\.opentelemetry\.io/otel/sdk/trace\.(?:recordStackTrace|\(\*(?:recording)?[sS]pan\)\.(?:End|RecordError)))$"
)


@dataclass(frozen=True)
class Frame:
    """One call in a stack, as recorded (`text` holds its line, or lines)."""

    text: str
    function: str | None
    file: str | None
    line: int | None
    library: bool


@dataclass(frozen=True)
class Stack:
    """A recorded stack read into blocks of frames, each block throw site first, root cause last."""

    language: Language
    lines: tuple[str, ...]  # the text as recorded, one entry a line
    headers: tuple[int, ...]  # indexes of the exception lines (type: message, Caused by: ...)
    blocks: tuple[tuple[tuple[int, Frame], ...], ...]  # (index of the frame's first line, frame)

    @property
    def frames(self) -> tuple[Frame, ...]:
        return tuple(frame for block in self.blocks for _, frame in block)

    @property
    def throw_site(self) -> Frame | None:
        """Where the root cause was thrown: the first frame of the last block not in the recording machinery."""
        return next((f for f in self._candidates()), None)

    @property
    def app_frame(self) -> Frame | None:
        """The first application frame from the root cause's throw site outward."""
        return next((f for f in self._candidates() if not f.library), None)

    def _candidates(self) -> list[Frame]:
        """Frames root cause first, without the recording machinery: `debug.Stack` and the frame that called it
        (a logging hook or an SDK's recorder), the runtime's panic frames, the OTel SDK's own recorder."""
        out = []
        for block in reversed(self.blocks):
            caller_of_stack = False
            for _, frame in block:
                recorder = bool(frame.function and _RECORDER.match(frame.function))
                if not recorder and not caller_of_stack:
                    out.append(frame)
                caller_of_stack = frame.function == "runtime/debug.Stack"
        return out


# Failures of one defect carry the same stack text: each distinct text is read once (Stack is immutable).
_DISTINCT_STACKS = 1024


@functools.lru_cache(maxsize=_DISTINCT_STACKS)
def parse_stack(text: str) -> Stack:
    """`text` read as whichever runtime printed it; unknown shapes keep their lines and no frames."""
    lines = tuple(line.rstrip() for line in str(text).strip("\n").splitlines())
    lines = tuple(line for line in lines if line.strip(" ^~\t") or not line.strip())  # 3.11+ underlines
    language = _language(lines)
    reader = _READERS.get(language)
    if reader is None:
        return Stack("unknown", lines, (0,) if lines else (), ())
    headers, blocks = reader(lines)
    return Stack(language, lines, tuple(headers), tuple(tuple(b) for b in blocks if b))


@functools.lru_cache(maxsize=_DISTINCT_STACKS)
def excerpt(stack: Stack, limit: int = STACK_LINES) -> tuple[str, ...]:
    """At most `limit` lines in printed order: exception lines, throw site, code location, nearby frames;
    `…` stands where lines were left out (and counts as a line)."""
    if not stack.blocks:
        return tuple(_clip(line) for line in stack.lines if line.strip())[:limit]
    for budget in range(limit, 0, -1):
        lines = _render(stack, _select(stack, budget))
        if len(lines) <= limit:
            return lines
    return lines[:limit]


def _select(stack: Stack, limit: int) -> list[int]:
    keep: set[int] = set()
    spans = {index: _frame_lines(stack, index, frame) for block in stack.blocks for index, frame in block}

    def take(indexes: range | list[int]) -> bool:
        needed = [i for i in indexes if i not in keep]
        if len(keep) + len(needed) > limit:
            return False
        keep.update(needed)
        return True

    headers = list(stack.headers)
    take(headers[:1] + headers[-1:])
    important = [stack.throw_site, stack.app_frame]
    for block in stack.blocks:
        for index, frame in block:
            if any(frame is f for f in important):
                take(spans[index]) or take([index])
    for header in headers[1:-1]:
        take([header])
    # Then frames nearest each block's throw site, root cause first, while room is left.
    for block in reversed(stack.blocks):
        for index, _frame in block:
            if not take(spans[index]) and not take([index]):
                break
    return sorted(keep)


def _render(stack: Stack, ordered: list[int]) -> tuple[str, ...]:
    def skipped(start: int, end: int) -> bool:
        return any(line.strip() for line in stack.lines[start:end])

    out: list[str] = ["…"] if ordered and skipped(0, ordered[0]) else []
    for position, index in enumerate(ordered):
        if position and skipped(ordered[position - 1] + 1, index) and out and out[-1] != "…":
            out.append("…")
        out.append(_clip(stack.lines[index]))
    if ordered and skipped(ordered[-1] + 1, len(stack.lines)):
        out.append("…")
    return tuple(out)


def _frame_lines(stack: Stack, index: int, frame: Frame) -> range:
    return range(index, index + max(1, frame.text.count("\n") + 1))


def _clip(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


def _language(lines: tuple[str, ...]) -> Language:
    votes = {"python": 0, "javascript": 0, "java": 0, "go": 0, "dotnet": 0}
    for number, line in enumerate(lines[:400]):
        if _PY_FRAME.match(line) or line.startswith("Traceback (most recent call last)"):
            votes["python"] += 2
        elif _GO_GOROUTINE.match(line) or (_GO_LOCATION.match(line) and number and not lines[number - 1][:1].isspace()):
            votes["go"] += 2
        elif _JAVA_FRAME.match(line) or _JAVA_CAUSE.match(line):
            votes["java"] += 2 if ".java:" in line or "Native Method" in line or "Caused by" in line else 1
        elif (":line " in line and _DOTNET_FRAME.match(line)) or _DOTNET_MARK.match(line):
            votes["dotnet"] += 2
        elif _DOTNET_FRAME.match(line) and re.search(r"\(\w[\w.`\[\]<>,&]* \w+[,)]", line):
            votes["dotnet"] += 1
        elif _JS_FRAME.match(line) or _JS_GECKO.match(line):
            votes["javascript"] += 1
    best = max(votes, key=lambda k: votes[k])
    return best if votes[best] else "unknown"  # type: ignore[return-value]


Blocks = list[list[tuple[int, Frame]]]


def _python(lines: tuple[str, ...]) -> tuple[list[int], Blocks]:
    """Blocks of tracebacks as printed (cause first); each block's frames reversed to throw site first."""
    headers: list[int] = []
    blocks: Blocks = [[]]
    number = 0
    while number < len(lines):
        line = lines[number]
        match = _PY_FRAME.match(line)
        if match:
            text, width = line, 1
            following = lines[number + 1] if number + 1 < len(lines) else ""
            if following.startswith("    ") and not _PY_FRAME.match(following):
                text, width = f"{line}\n{following}", 2
            file = match["file"]
            blocks[-1].append((number, Frame(text, match["func"], file, int(match["line"]), _py_library(file))))
            number += width
            continue
        if _PY_CHAIN.match(line.strip()):
            blocks.append([])
        elif line.strip() and not line.startswith((" ", "\t")) and not line.startswith("Traceback ("):
            headers.append(number)
        number += 1
    # Printed cause first; the raised exception's block comes last. Root cause last in our order.
    ordered = [list(reversed(block)) for block in reversed(blocks)]
    return headers, ordered


def _py_library(file: str) -> bool:
    return bool(_PY_LIBRARY.search(file))


def _javascript(lines: tuple[str, ...]) -> tuple[list[int], Blocks]:
    headers: list[int] = []
    block: list[tuple[int, Frame]] = []
    for number, line in enumerate(lines):
        match = _JS_FRAME.match(line)
        gecko = None if match else _JS_GECKO.match(line)
        if match or gecko:
            location = (match["loc"] or match["bare"]) if match else gecko["loc"]  # type: ignore[index]
            function = (match["func"] if match else gecko["func"]) or None  # type: ignore[index]
            file, line_no = _js_location(location)
            library = bool(_JS_LIBRARY.search(file or "")) or file is None
            block.append((number, Frame(line, function, file, line_no, library)))
        elif line.strip() and not block:
            headers.append(number)
    return headers[:1] or ([0] if lines else []), [block]


def _js_location(location: str) -> tuple[str | None, int | None]:
    location = location.strip()
    if location in ("<anonymous>", "native") or location.startswith("index "):
        return location, None
    parts = location.rsplit(":", 2)
    if len(parts) == 3 and (line := whole_number(parts[1])) is not None and whole_number(parts[2]) is not None:
        return parts[0], line
    if len(parts) >= 2 and (line := whole_number(parts[-1])) is not None:
        return ":".join(parts[:-1]), line
    return location, None


def _java(lines: tuple[str, ...]) -> tuple[list[int], Blocks]:
    headers: list[int] = []
    blocks: Blocks = [[]]
    for number, line in enumerate(lines):
        match = _JAVA_FRAME.match(line)
        if match:
            src = match["src"]
            file, _, line_no = src.partition(":")
            function = match["func"]
            library = bool(_JAVA_LIBRARY.match(function)) or bool(match["module"] and "java." in match["module"])
            frame = Frame(
                line,
                function,
                file if file not in ("Native Method", "Unknown Source") else None,
                _num(line_no),
                library,
            )
            blocks[-1].append((number, frame))
        elif _JAVA_CAUSE.match(line):
            headers.append(number)
            blocks.append([])
        elif _JAVA_MORE.match(line):
            continue
        elif line.strip() and number == 0:
            headers.append(number)
    return headers, blocks


def _dotnet(lines: tuple[str, ...]) -> tuple[list[int], Blocks]:
    """`Outer: msg ---> Inner: msg`, inner frames first, `--- End of inner exception stack trace ---`, outer frames."""
    headers: list[int] = []
    blocks: Blocks = [[]]
    for number, line in enumerate(lines):
        match = _DOTNET_FRAME.match(line)
        if match:
            function = match["func"]
            file = match["file"]
            library = bool(_DOTNET_LIBRARY.match(function))
            blocks[-1].append((number, Frame(line, function, file, _num(match["line"]), library)))
        elif _DOTNET_MARK.match(line):
            if "inner exception" in line:
                blocks.append([])
        elif line.strip() and not blocks[-1] and len(blocks) == 1:
            headers.append(number)
    if len(blocks) > 1:  # the inner exception's frames (printed first) are the root cause: last in our order
        blocks = list(reversed(blocks))
    return headers[:2], blocks


def _go(lines: tuple[str, ...]) -> tuple[list[int], Blocks]:
    """The first goroutine's frames (the one that panicked or recorded); function line, then file:line."""
    headers: list[int] = []
    block: list[tuple[int, Frame]] = []
    goroutines = 0
    number = 0
    while number < len(lines):
        line = lines[number]
        if _GO_GOROUTINE.match(line):
            goroutines += 1
            if goroutines > 1:
                break
            headers.append(number)
        elif number + 1 < len(lines) and not line[:1].isspace() and _GO_LOCATION.match(lines[number + 1]):
            location = _GO_LOCATION.match(lines[number + 1])
            assert location is not None
            function = _go_function(line)
            file = location["file"]
            library = bool(_GO_LIBRARY_PATH.search(file)) or _go_stdlib(function)
            block.append(
                (number, Frame(f"{line}\n{lines[number + 1]}", function, file, int(location["line"]), library))
            )
            number += 2
            continue
        elif line.strip() and not block and goroutines == 0:
            headers.append(number)
        number += 1
    return headers, [block]


def _go_function(line: str) -> str:
    text = line.strip()
    if text.startswith("created by "):
        text = text[len("created by ") :].split(" in goroutine ", 1)[0]
    if text.endswith(")"):
        depth = 0
        for position in range(len(text) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(text[position], 0)
            if depth == 0:
                return text[:position] or text
    return text


def _go_stdlib(function: str) -> bool:
    """A standard-library package (`runtime`, `net/http`, `testing`): its path has no domain; `main` is the app."""
    head = function.split("/", 1)[0] if "/" in function else function.split(".", 1)[0]
    return "." not in head and head != "main"


def _num(text: str | None) -> int | None:
    return whole_number(text) if text else None


_READERS = {"python": _python, "javascript": _javascript, "java": _java, "dotnet": _dotnet, "go": _go}
