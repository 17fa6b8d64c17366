"""Command line: a thin layer that parses arguments, calls the core, prints the results.

Two tables hold its structure: GLOBAL_OPTIONS (accepted before or after any command) and
COMMANDS (each command's arguments and the function that runs it, registered with @command, in
the order `--help` lists them). A command gets the parsed arguments and the effective Settings
(mcp_sessions/config.py: flag, environment, config file, default); flags that set a setting use
its attribute as their destination (`dest="receiver_port"`), so `config` can say where each
value came from.

The read commands (`show`, `errors`, `slow`, `sessions --json`) call the same answer and renderer
as the MCP tool of the same question and print its text (styled on a terminal, unchanged when
piped) or, with --json, its structured content.

Exit codes: 0 success, 1 some input failed (the rest was done), 2 usage or setup error.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin, get_type_hints

from mcp_sessions import __version__, urls
from mcp_sessions.config import CONFIG_ENV_VAR, CONFIG_FILENAME, KEYS, Settings, default_data_dir, load_settings
from mcp_sessions.errors import InvalidArgumentError, McpSessionsError
from mcp_sessions.formats.registry import readable
from mcp_sessions.numbers import whole_number

if TYPE_CHECKING:
    import socket

    from pydantic import BaseModel

    from mcp_sessions.collector import CollectSettings
    from mcp_sessions.intake_log import BatchLines
    from mcp_sessions.receiver_limits import ReceiverLimits
    from mcp_sessions.redact import RedactionRules
    from mcp_sessions.store import SqliteStore
    from mcp_sessions.store.sqlite.retention import Removed

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
SETTING_DESTS = frozenset(k.attribute for k in KEYS)

# ---- global options: accepted before or after the command ------------------------------------

GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("-v", "--verbose"), {"action": "store_true", "help": "log details to stderr (the demo: show every line)"}),
    (
        ("--db",),
        {
            "dest": "database",
            "metavar": "PATH",
            "help": "SQLite database file (default: $MCP_SESSIONS_DB, the config file, else the data directory)",
        },
    ),
    (
        ("--config",),
        {
            "metavar": "PATH",
            "help": f"settings file (default: ${CONFIG_ENV_VAR}, else {CONFIG_FILENAME} in the data directory)",
        },
    ),
)


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: an option given before the command is not reset by the subcommand's default.
    group = parser.add_argument_group("global options (before or after the command)")
    for flags, kwargs in GLOBAL_OPTIONS:
        group.add_argument(*flags, default=argparse.SUPPRESS, **kwargs)


# ---- the command table -----------------------------------------------------------------------

Run = Callable[[argparse.Namespace, Settings], int]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Run


COMMANDS: dict[str, Command] = {}


def command(
    name: str, *, help: str, description: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None
) -> Callable[[Run], Run]:
    """Declares a command: its help, its arguments (besides the global options), the function that runs it."""

    def register(run: Run) -> Run:
        COMMANDS[name] = Command(name, help, description, arguments, run)
        return run

    return register


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, the arguments of that command alone (the others' can import much more)."""
    parser = argparse.ArgumentParser(
        prog="mcp-sessions",
        description="Index recorded user sessions and backend traces in SQLite and serve them to AI agents over MCP.",
    )
    parser.add_argument("--version", action="version", version=f"mcp-sessions {__version__}")
    _add_global_options(parser)
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for entry in COMMANDS.values():
        sub = subcommands.add_parser(entry.name, help=entry.help, description=entry.description)
        if only is None or only == entry.name:
            entry.arguments(sub)
        _add_global_options(sub)
        for nested in _subparsers(sub):
            _add_global_options(nested)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    return [p for a in parser._actions if isinstance(a, argparse._SubParsersAction) for p in dict(a.choices).values()]


def _command_named(argv: Sequence[str]) -> str | None:
    """The command in `argv`: the first word that is not an option or a global option's value."""
    valued = {flag for flags, kwargs in GLOBAL_OPTIONS if kwargs.get("action") != "store_true" for flag in flags}
    words = iter(argv)
    for word in words:
        if word in valued:
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_named(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        flags = {dest: value for dest, value in vars(args).items() if dest in SETTING_DESTS}
        settings = load_settings(flags, config=getattr(args, "config", None))
        return COMMANDS[args.command].run(args, settings)
    except McpSessionsError as exc:
        print(f"mcp-sessions: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader left (`| head`): stop quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return EXIT_OK


# ---- shared arguments ------------------------------------------------------------------------


def _redaction_option(parser: argparse.ArgumentParser, when: str = "") -> None:
    parser.add_argument(
        "--redaction-config",
        dest="redaction_config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"TOML file of extra redaction rules{when} (default: $MCP_SESSIONS_REDACTION, the config file's "
        "redaction_config, else redaction.toml in the data directory if present, else the built-in rules)",
    )


def _session_gap_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--session-gap-minutes",
        dest="session_gap_minutes",
        type=float,
        metavar="MINUTES",
        default=argparse.SUPPRESS,
        help="browser events without a session key start a new session after this long idle (default 30)",
    )


def _redaction_rules(settings: Settings) -> RedactionRules:
    """The rules this command ingests under; a bad config raises before anything is opened or written."""
    from mcp_sessions.redact import DEFAULT_RULES, load_rules

    path = settings.redaction_config
    if path is None:
        return DEFAULT_RULES
    rules = load_rules(path)
    print(f"mcp-sessions: redaction rules from {path}", file=sys.stderr)
    return rules


def _receiver_options(parser: argparse.ArgumentParser, what: str = "") -> None:
    group = parser.add_argument_group(f"receiver limits{what}")
    group.add_argument(
        "--max-body-mb",
        dest="receiver_max_body_mb",
        metavar="MB",
        type=float,
        default=argparse.SUPPRESS,
        help="largest request, also decompressed (default 16)",
    )
    group.add_argument(
        "--max-inflight-mb",
        dest="receiver_max_inflight_mb",
        metavar="MB",
        type=float,
        default=argparse.SUPPRESS,
        help="memory budget for requests being decoded and written; beyond it 503 + Retry-After (default 256)",
    )
    group.add_argument(
        "--max-db-mb",
        dest="receiver_max_db_mb",
        metavar="MB",
        type=float,
        default=argparse.SUPPRESS,
        help="storage quota: refuse new data (503) once the database is this big",
    )
    group.add_argument(
        "--max-connections",
        dest="receiver_max_connections",
        metavar="N",
        type=int,
        default=argparse.SUPPRESS,
        help="open connections at once; idle ones make room (default 256)",
    )
    parser.add_argument(
        "--cors-origin",
        dest="receiver_cors_origins",
        action="append",
        default=argparse.SUPPRESS,
        metavar="ORIGIN",
        help="a browser origin (such as http://localhost:5173) whose pages may post spans and rrweb batches; "
        "repeatable; without it every request from a browser page is refused",
    )


def _receiver_limits(settings: Settings) -> ReceiverLimits:
    from mcp_sessions.receiver_limits import MIB, ReceiverLimits

    s = settings
    try:
        max_body = int(s.receiver_max_body_mb * MIB)
        return ReceiverLimits(
            max_body=max_body,
            max_inflight=int(s.receiver_max_inflight_mb * MIB),
            max_reading=max(max_body, ReceiverLimits.max_reading),
            max_db_bytes=int(s.receiver_max_db_mb * MIB) if s.receiver_max_db_mb is not None else None,
            max_connections=s.receiver_max_connections,
        )
    except ValueError as exc:
        raise InvalidArgumentError(f"receiver limits: {exc}; give positive numbers") from None


def _collect_settings(args: argparse.Namespace, settings: Settings) -> CollectSettings:
    """Everything `collect` and `serve --collect` receive with, from the effective settings, in one object."""
    from mcp_sessions.collector import CollectSettings
    from mcp_sessions.receiver_cors import normalize_origins

    grpc = getattr(args, "grpc", None)
    return CollectSettings(
        host=settings.receiver_host,
        port=settings.receiver_port,
        limits=_receiver_limits(settings),
        cors_origins=normalize_origins(settings.receiver_cors_origins),
        grpc=_host_port(grpc, "--grpc", "127.0.0.1:4317") if grpc else None,
    )


def _host_port(text: str, option: str, example: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets) as a pair; a clear error naming the option otherwise."""
    host, _, port = text.rpartition(":")
    number = whole_number(port)
    if number is None or number > 65535:
        raise InvalidArgumentError(f"{option} {text!r}: expected HOST:PORT such as {example}")
    return host.removeprefix("[").removesuffix("]") or "127.0.0.1", number


def _wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=30,
        metavar="SECONDS",
        help="how long to wait while another mcp-sessions process writes the database (default 30)",
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the structured content as JSON, for scripts")


def _tool_argument(
    parser: argparse.ArgumentParser, tool: Callable[..., Any], param: str, *flags: str, metavar: str | None = None
) -> None:
    """An argument that takes a tool parameter's type, bounds, default and description from the tool itself,
    so the command accepts exactly what the tool accepts and says so in the same words."""
    from pydantic import TypeAdapter, ValidationError

    hint = get_type_hints(tool, include_extras=True)[param]
    default = inspect.signature(tool).parameters[param].default
    described = [m for m in getattr(hint, "__metadata__", ()) if getattr(m, "description", None)]
    help_text = described[0].description if described else None
    base = get_args(hint)[0] if hasattr(hint, "__metadata__") else hint
    items = [a for a in get_args(base) if a is not type(None)]
    listed = get_origin(items[0] if items else base) is list
    adapter: TypeAdapter[Any] = TypeAdapter(get_args(items[0])[0] if listed else hint)

    def parse(text: str) -> Any:
        try:
            return adapter.validate_python(text)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(exc.errors()[0]["msg"].lower()) from None

    kwargs: dict[str, Any] = {"type": parse, "help": help_text, "metavar": metavar}
    if not flags:
        parser.add_argument(param, **kwargs)
        return
    if listed:
        kwargs["action"] = "append"
    if default is not inspect.Parameter.empty:
        kwargs["default"] = default
        if default is not None and help_text:
            kwargs["help"] = f"{help_text} (default {default})"
    parser.add_argument(*flags, dest=param, **kwargs)


def _emit(args: argparse.Namespace, text: str, model: BaseModel) -> None:
    """A read command's answer: the structured content with --json, else the text (styled on a terminal)."""
    from mcp_sessions import terminal
    from mcp_sessions.render.models import structured

    if getattr(args, "json", False):
        print(json.dumps(structured(model), indent=2, ensure_ascii=False))
    else:
        print(terminal.style(text) if terminal.wants_style(sys.stdout) else text)


def _reader(settings: Settings) -> SqliteStore:
    from mcp_sessions.store import SqliteStore

    return SqliteStore(settings.database, readonly=True)


# ---- writing: ingest, collect, serve ----------------------------------------------------------


def _ingest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, or - for standard input")
    _redaction_option(parser)
    _session_gap_option(parser)
    _wait_option(parser)


@command(
    "ingest",
    help="store recordings (files, directories, - for stdin)",
    description=f"Store {readable()}. Directories are read recursively; "
    "a file already ingested is skipped; a bad file is reported and stores nothing.",
    arguments=_ingest_arguments,
)
def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.ingest import STDIN, expand, ingest_paths
    from mcp_sessions.progress import Progress
    from mcp_sessions.render.ingest import ingest_notes
    from mcp_sessions.store import Store

    rules = _redaction_rules(settings)
    db_path = settings.database
    stored = unchanged = failed = spans = logs = 0
    sources = list(expand(args.paths))
    sizes = [_file_size(source) if source != STDIN else 0 for source in sources]
    with Store(db_path, busy_timeout_s=args.wait) as store, Progress(len(sources), sum(sizes), sys.stderr) as bar:
        if sources:
            bar.working_on(sources[0])
        results = ingest_paths(store, sources, rules=rules, session_gap_ns=settings.session_gap_ns)
        for i, result in enumerate(results):
            bar.done(sizes[i])
            if i + 1 < len(sources):
                bar.working_on(sources[i + 1])
            if result.status == "failed":
                failed += 1
                bar.write(f"failed     {result.source}: {result.error}", sys.stderr)
                continue
            if result.status == "unchanged":
                unchanged += 1
                bar.write(f"unchanged  {result.source} (already ingested)", sys.stdout)
                continue
            stored += 1
            c = result.counts
            spans += c.spans_stored
            logs += c.logs_stored
            parts = [
                *([f"{c.events_stored} events ({c.events_linked} linked by time window)"] if c.events_read else []),
                f"{c.spans_stored} spans",
                f"{c.logs_stored} logs",
                f"{c.traces_touched} traces",
                f"{c.sessions_touched} session" + ("" if c.sessions_touched == 1 else "s"),
            ]
            parts += ingest_notes(c)
            if result.redactions:
                parts.append("masked " + ", ".join(f"{rule} {n}" for rule, n in result.redactions.items()))
            bar.write(f"stored     {result.source} ({result.format}): {', '.join(parts)}", sys.stdout)
    total = stored + unchanged + failed
    print(
        f"{total} inputs: {stored} stored, {unchanged} unchanged, {failed} failed; {spans} spans and {logs} logs "
        f"added to {db_path}"
    )
    return EXIT_PARTIAL if failed else EXIT_OK


def _file_size(source: str) -> int:
    try:
        return os.stat(source).st_size
    except OSError:
        return 0  # ingest_file says what is wrong with it


def _collect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        dest="receiver_host",
        metavar="HOST",
        default=argparse.SUPPRESS,
        help="address to listen on (default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        dest="receiver_port",
        metavar="PORT",
        type=int,
        default=argparse.SUPPRESS,
        help="port (default 4318, the OTLP/HTTP port)",
    )
    parser.add_argument(
        "--grpc",
        nargs="?",
        const="127.0.0.1:4317",
        metavar="HOST:PORT",
        help="also receive OTLP/gRPC (default 127.0.0.1:4317; needs pip install 'mcp-sessions[grpc]')",
    )
    parser.add_argument("--no-batch-lines", action="store_true", help="no line per request on stderr")
    _receiver_options(parser)
    _redaction_option(parser)


@command(
    "collect",
    help="receive OTLP (HTTP, and gRPC with --grpc) from live exporters, and rrweb batches from browsers",
    description="Run an OTLP/HTTP receiver (POST /v1/traces, /v1/logs; protobuf or JSON, gzip) that stores "
    "what exporters send, and rrweb event batches from pages (POST /v1/rrweb). Point "
    "OTEL_EXPORTER_OTLP_ENDPOINT at it. Prints a line per request on stderr. Ctrl-C stops it after writing "
    "everything it acknowledged.",
    arguments=_collect_arguments,
)
def cmd_collect(args: argparse.Namespace, settings: Settings) -> int:
    import anyio

    from mcp_sessions import collector, receiver, receiver_grpc
    from mcp_sessions.intake_log import BatchLines
    from mcp_sessions.store import Store

    collect = _collect_settings(args, settings)
    if collect.grpc is not None and not receiver_grpc.available():
        raise InvalidArgumentError("--grpc needs grpcio: pip install 'mcp-sessions[grpc]'")
    rules = _redaction_rules(settings)
    db_path = settings.database
    lines = None if args.no_batch_lines else BatchLines(sys.stderr)

    def listening(addresses: dict[str, str]) -> None:
        http = addresses["http"]
        via = f" and OTLP/gRPC on {addresses['grpc']}" if "grpc" in addresses else ""
        print(
            f"receiving OTLP/HTTP on {http} (POST /v1/traces, /v1/logs, /v1/rrweb){via} into {db_path}; "
            f"set OTEL_EXPORTER_OTLP_ENDPOINT={http}; Ctrl-C stops",
            file=sys.stderr,
        )
        if collect.cors_origins:
            print(f"accepting requests from browser pages at {', '.join(collect.cors_origins)}", file=sys.stderr)

    async def run(store: Store, sock: socket.socket) -> None:
        async with anyio.create_task_group() as tasks:
            if lines is not None:
                tasks.start_soon(_flush_every_second, lines)
            await collector.serve_receiver(
                store, sock, settings=collect, rules=rules, on_batch=lines, on_listening=listening
            )
            tasks.cancel_scope.cancel()

    with Store(db_path) as store:
        sock = receiver.bind(collect.host, collect.port)
        try:
            anyio.run(run, store, sock)
        except BaseExceptionGroup as group:  # the task group wraps what serve_receiver raised
            raise _sole(group) from None
        finally:
            if lines is not None:
                lines.close()
    return EXIT_OK


def _sole(group: BaseExceptionGroup) -> BaseException:
    """The one exception inside (nested) task-group wrappers, or the group when there are several."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    return inner


async def _flush_every_second(lines: BatchLines) -> None:
    import anyio

    while True:
        await anyio.sleep(1)
        lines.flush_due()


class _CollectAction(argparse.Action):
    """`serve --collect [HOST:PORT]`: run the receiver too; an address given here sets receiver.host/port."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, value: Any, option: str | None = None) -> None:
        namespace.collect = True
        if value:
            try:
                namespace.receiver_host, namespace.receiver_port = _host_port(str(value), "--collect", "127.0.0.1:4318")
            except InvalidArgumentError as exc:
                parser.error(str(exc))


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--http", action="store_true", help="serve Streamable HTTP at http://HOST:PORT/mcp")
    suppress = argparse.SUPPRESS
    parser.add_argument(
        "--host", dest="serve_host", metavar="HOST", default=suppress, help="HTTP address (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", dest="serve_port", metavar="PORT", type=int, default=suppress, help="HTTP port (default 8000)"
    )
    parser.add_argument(
        "--token",
        dest="serve_token",
        metavar="TOKEN",
        default=argparse.SUPPRESS,
        help="bearer token HTTP clients must send (default $MCP_SESSIONS_TOKEN), 16 characters at least; required "
        "beyond loopback",
    )
    parser.add_argument(
        "--session-idle-minutes",
        type=float,
        default=30,
        metavar="MINUTES",
        help="an HTTP session unused this long is closed; the client starts a new one (default 30)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="a Host header clients may use besides loopback names (DNS-rebinding protection); repeatable",
    )
    parser.add_argument(
        "--allow-ingest",
        dest="serve_ingest_roots",
        action="append",
        type=Path,
        metavar="ROOT",
        default=argparse.SUPPRESS,
        help="offer the ingest_recording tool, reading only under ROOT (repeatable); opens the database read-write",
    )
    parser.add_argument(
        "--collect",
        nargs="?",
        action=_CollectAction,
        default=False,
        metavar="HOST:PORT",
        help="also receive OTLP/HTTP in the same process (default: the receiver's host and port, 127.0.0.1:4318)",
    )
    parser.add_argument(
        "--store",
        metavar="DSN",
        default=None,
        help="answer from another store instead of the database: a ClickHouse cluster the OpenTelemetry "
        "Collector writes (clickhouse://USER@HOST:8123/DB, clickhouse+chdb:///DIR; cached in the database file), "
        "a running Jaeger or Tempo (jaeger+http://HOST:16686, tempo+http://HOST:3200, https too; cached in its "
        "own file); options in the README",
    )
    _receiver_options(parser, " (with --collect)")
    _redaction_option(parser, " for --allow-ingest, --collect and --store")
    _session_gap_option(parser)


@command(
    "serve",
    help="run the MCP server (stdio, or Streamable HTTP with --http)",
    description="Run the MCP server on standard input/output for IDE agents, or over Streamable HTTP for a "
    "shared server. The database is opened read-only and must exist (run `ingest` or `collect` first) "
    "unless --allow-ingest or --collect is given. With --store DSN the questions go to that store (a ClickHouse "
    "cluster the OpenTelemetry Collector writes, cached in the database file; a Jaeger or Tempo, cached in a "
    "file of its own). Logs go to stderr.",
    arguments=_serve_arguments,
)
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import anyio

    from mcp_sessions.server import create_server
    from mcp_sessions.store import Store
    from mcp_sessions.store.open import open_store

    db_path = settings.database
    roots = list(settings.serve_ingest_roots)
    writes = bool(roots or args.collect or args.store)
    # Read-only, nothing is redacted at start-up: the built-in rules (None) load with the first span shown.
    rules = _redaction_rules(settings) if writes else None
    collect = _collect_settings(args, settings) if args.collect else None
    if args.store and (roots or args.collect):
        raise InvalidArgumentError(
            "--store answers from another store; it does not go with --allow-ingest or --collect"
        )
    # Open the store once now, so setup errors (a bad URL, option or cache path; a missing or old
    # file) surface before the protocol starts: a writer creates or upgrades the file; the read-only
    # server only checks it (and never creates -wal/-shm files, see store/sqlite/db.py).
    opened = open_store(args.store, database=db_path, readonly=not writes, rules=rules)
    if args.store:
        where = urls.split(args.store)  # never the password of a clickhouse://USER:PW@… DSN
        label = getattr(opened, "label", None) or f"{where.scheme}://{where.host_port}{where.path}"
        print(f"mcp-sessions: answering from {label}", file=sys.stderr)
    getattr(opened, "close", lambda: None)()
    mcp = create_server(
        db_path, ingest_roots=roots, redaction=rules, session_gap_ns=settings.session_gap_ns, store_dsn=args.store
    )
    mcp_http = None
    if args.http or args.collect:  # the HTTP stack loads only when asked for: stdio starts faster without it
        from mcp_sessions import http, receiver
    if args.http:
        app = http.build_app(
            mcp,
            host=settings.serve_host,
            port=settings.serve_port,
            token=settings.serve_token,
            allowed_hosts=args.allowed_host,
            session_idle_s=args.session_idle_minutes * 60,
        )
        mcp_sock = receiver.bind(settings.serve_host, settings.serve_port)
        mcp_http = receiver.uvicorn_server(app)
        print(
            f"mcp-sessions: MCP over Streamable HTTP at http://{settings.serve_host}:{mcp_sock.getsockname()[1]}/mcp"
            + (" (bearer token required)" if settings.serve_token else ""),
            file=sys.stderr,
        )
    if not args.collect and mcp_http is None:
        mcp.run("stdio")
        return EXIT_OK

    async def run_all(collector_store: Store | None) -> None:
        collector = None
        async with anyio.create_task_group() as tasks:
            if collector_store is not None and collect is not None:
                assert rules is not None  # --collect writes: its rules were loaded above
                sock = receiver.bind(collect.host, collect.port)
                print(
                    f"mcp-sessions: receiving OTLP/HTTP on http://{collect.host}:{sock.getsockname()[1]}",
                    file=sys.stderr,
                )
                app = receiver.create_app(
                    collector_store, limits=collect.limits, rules=rules, cors_origins=collect.cors_origins
                )
                collector = receiver.uvicorn_server(app)
                tasks.start_soon(lambda: collector.serve(sockets=[sock]))
            if mcp_http is not None:
                await mcp_http.serve(sockets=[mcp_sock])
            else:
                await mcp.run_stdio_async()
            if collector is not None:
                collector.should_exit = True  # the MCP side ended: stop receiving, write what was acknowledged

    if args.collect:
        with Store(db_path) as collector_store:
            anyio.run(run_all, collector_store)
    else:
        anyio.run(run_all, None)
    return EXIT_OK


# ---- reading: sessions, show, errors, slow ----------------------------------------------------


def _sessions_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    parser.add_argument("--query", help="free text in id, user, service, URL or operation names")
    parser.add_argument("--user", help="exact user id")
    parser.add_argument("--service", help="exact service name")
    parser.add_argument("--errors", action="store_true", help="only sessions with errors")
    parser.add_argument("--sort", choices=["recent", "oldest", "slowest", "errors", "largest"], default="recent")
    _json_option(parser)


@command(
    "sessions",
    help="list sessions, as a table (or --json)",
    description="List indexed sessions, most recent first. With --json, the structured content of the "
    "list_sessions tool for the same filters.",
    arguments=_sessions_arguments,
)
def cmd_sessions(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.answers.session import SessionQuery, list_sessions
    from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
    from mcp_sessions.render.lists import render_session_list
    from mcp_sessions.render.markdown import Budget, duration, plain, timestamp

    db_path = settings.database
    query = SessionQuery(args.query, args.service, args.user, has_errors=True if args.errors else None, sort=args.sort)
    with closing(_reader(settings)) as store:
        found = list_sessions(store, query, limit=max(1, min(args.limit, 100)), cursor=None)
    if args.json:
        _emit(args, *render_session_list(found, budget=Budget(DEFAULT_BUDGET_TOKENS)))
        return EXIT_OK
    page = found.page
    if not page.rows:
        print(f"no sessions in {db_path}" + (" match" if args.query or args.user or args.errors else ""))
    rows = [("SESSION", "START (UTC)", "DURATION", "USER", "TRACES", "SPANS", "ERRORS", "FIRST URL")]
    for s in page.rows:
        rows.append(
            (
                plain(s.session_id, 200),
                timestamp(s.start_ns)[:19].replace("T", " "),
                duration(s.duration_ns),
                plain(s.user_id, 60) if s.user_id else "-",
                str(s.trace_count),
                str(s.span_count),
                str(s.error_count),
                plain(s.first_url, 60) if s.first_url else "-",
            )
        )
    if page.rows:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        print(f"shows {len(page.rows)} of {page.total} sessions")
    if found.unsessioned_traces:
        print(f"{found.unsessioned_traces} traces carry no session key (ask an agent: list_traces(unsessioned=True))")
    return EXIT_OK


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    from mcp_sessions.tools.analysis import get_session
    from mcp_sessions.tools.browse import get_span, get_trace

    what = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    session = what.add_parser("session", help="a session's overview (as get_session)", description=_SHOW_SESSION)
    _tool_argument(session, get_session, "session_id", metavar="ID")
    _tool_argument(session, get_session, "budget_tokens", "--budget-tokens", metavar="N")
    _json_option(session)
    trace = what.add_parser("trace", help="a trace as a span tree (as get_trace)", description=_SHOW_TRACE)
    _tool_argument(trace, get_trace, "trace_id", metavar="ID")
    _tool_argument(trace, get_trace, "span_id", "--span", metavar="SPAN_ID")
    _tool_argument(trace, get_trace, "max_spans", "--max-spans", metavar="N")
    _tool_argument(trace, get_trace, "budget_tokens", "--budget-tokens", metavar="N")
    _json_option(trace)
    span = what.add_parser("span", help="one span in detail (as get_span)", description=_SHOW_SPAN)
    _tool_argument(span, get_span, "trace_id", metavar="TRACE_ID")
    _tool_argument(span, get_span, "span_id", metavar="SPAN_ID")
    _tool_argument(span, get_span, "budget_tokens", "--budget-tokens", metavar="N")
    _json_option(span)


_SHOW_SESSION = "Print the overview get_session gives: who and when, pages, errors, slowest requests, problems."
_SHOW_TRACE = "Print the span tree get_trace gives, cut to --max-spans (the root, the slowest branch, the errors)."
_SHOW_SPAN = "Print what get_span gives: one span's attributes, resource, events and links, redacted and bounded."


@command(
    "show",
    help="print a session, a trace or a span as the agent sees it (or --json)",
    description="Print the answer of get_session (`show session ID`), get_trace (`show trace ID`) or get_span "
    "(`show span TRACE_ID SPAN_ID`): the same "
    "text the agent reads, styled on a terminal and unchanged when piped; --json prints its structured content.",
    arguments=_show_arguments,
)
def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.render.markdown import Budget

    budget = Budget(args.budget_tokens)
    with closing(_reader(settings)) as store:
        if args.what == "session":
            from mcp_sessions.answers.session import session_overview
            from mcp_sessions.render.session import render_session

            _emit(args, *render_session(session_overview(store, args.session_id), budget=budget))
        elif args.what == "span":
            from mcp_sessions.answers.span import span_detail
            from mcp_sessions.render.span import render_span

            detail = span_detail(store, args.trace_id, args.span_id, rules=_redaction_rules(settings))
            _emit(args, *render_span(detail, budget=budget))
        else:
            from mcp_sessions.answers.trace import trace_view
            from mcp_sessions.render.trace import render_trace_view

            answer = trace_view(store, args.trace_id, span_id=args.span_id, max_spans=args.max_spans)
            _emit(args, *render_trace_view(answer, budget=budget))
    return EXIT_OK


def _scope_arguments(parser: argparse.ArgumentParser, tool: Callable[..., Any]) -> None:
    _tool_argument(parser, tool, "session_id", "--session", metavar="ID")
    _tool_argument(parser, tool, "trace_id", "--trace", metavar="ID")
    _tool_argument(parser, tool, "service", "--service", metavar="NAME")
    _tool_argument(parser, tool, "route", "--route", metavar="ROUTE")
    _tool_argument(parser, tool, "since", "--since", metavar="WHEN")
    _tool_argument(parser, tool, "until", "--until", metavar="WHEN")


def _errors_arguments(parser: argparse.ArgumentParser) -> None:
    from mcp_sessions.tools.analysis import find_errors

    _scope_arguments(parser, find_errors)
    _tool_argument(parser, find_errors, "sources", "--source", metavar="SOURCE")
    _tool_argument(parser, find_errors, "limit", "--limit", metavar="N")
    _tool_argument(parser, find_errors, "budget_tokens", "--budget-tokens", metavar="N")
    _json_option(parser)


@command(
    "errors",
    help="what failed, grouped (as find_errors; or --json)",
    description="Print the answer of find_errors: exceptions, failed spans and requests, console errors and error "
    "logs, grouped, for a session, a trace, or everything filtered by service, route and time.",
    arguments=_errors_arguments,
)
def cmd_errors(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.answers.errors import search_errors
    from mcp_sessions.render.insights import render_error_search
    from mcp_sessions.render.markdown import Budget

    with closing(_reader(settings)) as store:
        found = search_errors(store, _scope(args), args.sources, args.limit)
        _emit(args, *render_error_search(found, budget=Budget(args.budget_tokens)))
    return EXIT_OK


def _slow_arguments(parser: argparse.ArgumentParser) -> None:
    from mcp_sessions.tools.analysis import find_slow_spans

    _scope_arguments(parser, find_slow_spans)
    _tool_argument(parser, find_slow_spans, "group_by", "--group-by", metavar="operation|span")
    _tool_argument(parser, find_slow_spans, "limit", "--limit", metavar="N")
    _tool_argument(parser, find_slow_spans, "budget_tokens", "--budget-tokens", metavar="N")
    _json_option(parser)


@command(
    "slow",
    help="where the time went (as find_slow_spans; or --json)",
    description="Print the answer of find_slow_spans: operations ranked by their time on the critical path, then "
    "self time, for a session, a trace, or everything filtered by service, route and time.",
    arguments=_slow_arguments,
)
def cmd_slow(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.answers.slow import slow_work
    from mcp_sessions.render.insights import render_slow_work
    from mcp_sessions.render.markdown import Budget

    with closing(_reader(settings)) as store:
        work = slow_work(store, _scope(args), group_by=args.group_by, limit=args.limit)
        _emit(args, *render_slow_work(work, budget=Budget(args.budget_tokens)))
    return EXIT_OK


def _scope(args: argparse.Namespace) -> Any:
    from mcp_sessions.answers.lookup import ScopeQuery

    return ScopeQuery(args.session_id, args.trace_id, args.service, args.route, args.since, args.until)


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session_id", nargs="?", metavar="SESSION_ID", help="the session, as `sessions` lists it")
    parser.add_argument("--trace", metavar="TRACE_ID", help="a report of this one trace instead of a session")
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write (default: mcp-sessions-report-ID.html)")


@command(
    "report",
    help="write a session (or one trace) as one HTML file that opens offline",
    description="Write the session timeline and its traces' waterfalls (the views MCP Apps hosts draw) into one "
    "static HTML file, data embedded as stored (redacted at ingest), to attach to a bug report or open in a "
    "browser; it fetches nothing.",
    arguments=_report_arguments,
)
def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.answers.report import session_report, trace_report
    from mcp_sessions.render.apps import TIMELINE_MAX_ENTRIES, WATERFALL_MAX_SPANS
    from mcp_sessions.render.apps.report import render_report

    if bool(args.session_id) == bool(args.trace):
        raise InvalidArgumentError("report takes a SESSION_ID or --trace TRACE_ID (one of them); see `sessions`")
    with closing(_reader(settings)) as store:
        if args.trace:
            answer = trace_report(store, args.trace, spans_per_trace=WATERFALL_MAX_SPANS)
        else:
            answer = session_report(
                store, args.session_id, entry_limit=TIMELINE_MAX_ENTRIES, spans_per_trace=WATERFALL_MAX_SPANS
            )
        html = render_report(answer)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", args.trace or args.session_id)[:80]
    out = Path(args.output or f"mcp-sessions-report-{name}.html")
    out.write_text(html, encoding="utf-8")
    held = f"{len(answer.traces)} of {answer.trace_count} traces"
    print(f"wrote {out} ({held}, {len(html) / 1e3:.0f} kB); it opens offline in a browser")
    return EXIT_OK


# ---- the demo, settings, completion -----------------------------------------------------------


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recordings", type=Path, help="recordings to use instead of the bundled ones")
    _redaction_option(parser)
    _session_gap_option(parser)


@command(
    "demo",
    help="ingest the bundled recordings and walk through the tools as an agent would",
    description="Ingest the bundled demo recordings into a fresh database (a temporary file unless --db is given), "
    "start the MCP server over stdio and print each tool call with its answer, then how to connect your IDE. "
    "No network or browser needed. -v prints the ingest and every line of every answer.",
    arguments=_demo_arguments,
)
def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.demo import run_demo

    # Only --db itself: the demo never writes its recordings into the database the settings name.
    explicit = settings.database if "database" in vars(args) else None
    rules = _redaction_rules(settings)
    return run_demo(
        explicit,
        args.recordings,
        verbose=getattr(args, "verbose", False),
        rules=rules,
        session_gap_ns=settings.session_gap_ns,
    )


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    _json_option(parser)


@command(
    "config",
    help="print the effective settings and where each came from",
    description="Print every setting with its value (secrets masked) and its source: a flag, an environment "
    f"variable, the config file ({CONFIG_FILENAME} in the data directory or --config), or the default.",
    arguments=_config_arguments,
)
def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    where = str(settings.config_file) if settings.config_file else None
    if args.json:
        doc = {
            "config_file": where,
            "settings": {
                k.name: {
                    "value": settings.shown(k) if k.secret and settings.value(k) else _jsonable(settings.value(k)),
                    "source": settings.sources[k.name],
                    "variable": k.variable,
                }
                for k in KEYS
            },
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    print(f"config file: {where or f'none (would read {default_data_dir() / CONFIG_FILENAME})'}")
    rows = [("KEY", "VALUE", "FROM")] + [(k.name, settings.shown(k), settings.sources[k.name]) for k in KEYS]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for key, value, source in rows:
        print(f"{key.ljust(widths[0])}  {value.ljust(widths[1])}  {source}")
    return EXIT_OK


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _completion_arguments(parser: argparse.ArgumentParser) -> None:
    from mcp_sessions.completion import SHELLS

    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


@command(
    "completion",
    help="print a shell completion script (bash, zsh, fish)",
    description="Print a completion script for the shell. bash: `source <(mcp-sessions completion bash)` in "
    "~/.bashrc; zsh: `source <(mcp-sessions completion zsh)` in ~/.zshrc; fish: `mcp-sessions completion fish > "
    "~/.config/fish/completions/mcp-sessions.fish`.",
    arguments=_completion_arguments,
)
def cmd_completion(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.completion import script

    sys.stdout.write(script(args.shell, build_parser()))
    return EXIT_OK


# ---- maintenance: migrate, prune, forget ------------------------------------------------------


@command(
    "migrate",
    help="upgrade the database to this version's schema",
    description="Upgrade an existing database in place to the schema this mcp-sessions reads (writers such as "
    "ingest and collect do this on their own; the read-only `serve` asks for it). Nothing stored is lost.",
    arguments=_wait_option,
)
def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.store.sqlite.db import migrate_file

    db_path = settings.database
    before, applied = migrate_file(db_path, busy_timeout_s=args.wait)
    if not applied:
        print(f"{db_path} is at schema version {before}, the current one; nothing to do")
        return EXIT_OK
    steps = "; ".join(f"{m.version}: {m.summary}" for m in applied)
    print(f"migrated {db_path} from schema version {before} to {applied[-1].version} ({steps})")
    return EXIT_OK


def _report_removed(what: str, removed: Removed, db_path: Path) -> None:
    r = removed
    print(
        f"{what}: removed {r.sessions} sessions, {r.traces} traces, {r.spans} spans, {r.logs} logs, "
        f"{r.events} browser events; {db_path} went from {r.bytes_before / 1e6:.2f} MB to "
        f"{r.bytes_after / 1e6:.2f} MB, and no removed byte is left in it or its -wal"
    )


def _erase_wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=30,
        metavar="SECONDS",
        help="how long to wait for another process writing the database, and for readers to finish, before "
        "failing (default 30)",
    )


def _prune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--older-than", required=True, metavar="AGE", help="an age such as 30d, 12h, 90m, 2w")
    _erase_wait_option(parser)


@command(
    "prune",
    help="delete sessions older than an age, then reclaim the space",
    description="Delete every session that ended before the given age (with its traces, spans, logs and "
    "browser events), and traces, logs and events of no session as old; then rewrite the file so nothing "
    "removed stays on disk. Fails (status 2) rather than report success while a reader keeps removed bytes "
    "in the file.",
    arguments=_prune_arguments,
)
def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.params import parse_age
    from mcp_sessions.store import Store
    from mcp_sessions.store.sqlite.retention import prune_older_than

    cutoff = parse_age(args.older_than, "--older-than")
    with Store(settings.database, busy_timeout_s=args.wait) as store:
        removed = prune_older_than(store.conn, cutoff, wait_s=args.wait)
    _report_removed(f"pruned sessions older than {args.older_than}", removed, settings.database)
    return EXIT_OK


def _forget_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, metavar="ID", help="the user id as stored (see `sessions`)")
    _erase_wait_option(parser)


def _clickhouse_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    init = what.add_parser(
        "init-accelerators",
        help="print (or --apply) the optional session-id column and session table",
        description="Print the ALTER/CREATE statements of the optional accelerators (store/clickhouse/"
        "accelerators.py) for the cluster --store names; with --apply, run them (needs ALTER and CREATE).",
    )
    init.add_argument("--store", required=True, metavar="DSN", help="clickhouse://USER:PW@HOST:8123/DB")
    init.add_argument("--apply", action="store_true", help="run the statements on the cluster")
    status = what.add_parser(
        "status",
        help="the cluster's table variant and what the local cache holds from it",
        description="Print the exporter variant detected on --store and what the database file caches from it.",
    )
    status.add_argument("--store", required=True, metavar="DSN", help="clickhouse://USER:PW@HOST:8123/DB")


@command(
    "clickhouse",
    help="the ClickHouse store: optional accelerators, the cache's state",
    description="Work with the OpenTelemetry Collector clickhouseexporter's tables `serve --store` reads.",
    arguments=_clickhouse_arguments,
)
def cmd_clickhouse(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.store.clickhouse import accelerators
    from mcp_sessions.store.clickhouse.connect import open_clickhouse, remote_of

    if args.what == "status":
        with closing(open_clickhouse(args.store, settings.database)) as store:
            v, cache = store.remote.variant, store.cache_status()
            print(
                f"{v.database}.{v.traces_table}: {v.attributes} attributes, {v.spelling} enum names, "
                f"logs {'yes' if v.has_logs else 'no'}, trace_id_ts {'yes' if v.has_trace_id_ts else 'no'}, "
                f"accelerators {'yes' if store.remote.has_sessions_table else 'no'}"
            )
            age = "" if cache.newest_fetch_ns is None else f", newest fetched {_ago(cache.newest_fetch_ns)}"
            oldest = "" if cache.oldest_fetch_ns is None else f", oldest {_ago(cache.oldest_fetch_ns)}"
            held = f"{cache.traces} traces, {cache.spans} spans in {cache.fetches} fetches"
            print(f"cache {settings.database}: {held}{age}{oldest}")
        return EXIT_OK
    remote = remote_of(args.store)
    try:
        sql = accelerators.statements(remote)
        for statement in sql:
            print(statement + ";")
        if args.apply:
            accelerators.apply(remote.client, sql)
            print(f"-- applied {len(sql)} statements", file=sys.stderr)
    finally:
        remote.client.close()
    return EXIT_OK


def _ago(ns: int) -> str:
    import time

    return f"{max(0, time.time_ns() - ns) / 1e9:.0f} s ago"


@command(
    "forget",
    help="erase everything of one user, then reclaim the space",
    description="Delete every session and trace holding a record of the user (by user id) with everything in "
    "them, then rewrite the file so nothing removed stays on disk. The user id and those session ids are "
    "remembered as salted hashes: data arriving later under them is refused at ingest and counted. Fails "
    "(status 2) rather than report success while a reader keeps removed bytes in the file.",
    arguments=_forget_arguments,
)
def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_sessions.store import Store
    from mcp_sessions.store.sqlite.retention import forget_user

    with Store(settings.database, busy_timeout_s=args.wait) as store:
        removed = forget_user(store.conn, args.user, wait_s=args.wait)
    _report_removed(f"forgot user {args.user!r}", removed, settings.database)
    sessions = f"{removed.sessions} session{'' if removed.sessions == 1 else 's'}"
    traces = f"{removed.traces} trace{'' if removed.traces == 1 else 's'}"
    print(
        f"later data under user {args.user!r}, these {sessions} or their {traces} is refused at ingest and by the "
        "receiver, and counted as refused; the ids are kept only as salted hashes"
    )
    return EXIT_OK
