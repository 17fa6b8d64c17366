"""Command line: a thin layer that parses arguments, calls the core, prints one-line results.

Exit codes: 0 success, 1 some input failed (the rest was done), 2 usage or setup error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_sessions import __version__
from mcp_sessions.config import DB_ENV_VAR, REDACTION_ENV_VAR, REDACTION_FILENAME, resolve_db_path
from mcp_sessions.errors import InvalidArgumentError, McpSessionsError
from mcp_sessions.formats.registry import readable

if TYPE_CHECKING:
    from mcp_sessions.receiver_limits import ReceiverLimits
    from mcp_sessions.redact import RedactionRules
    from mcp_sessions.store.sqlite.retention import Removed

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"SQLite database file (default: ${DB_ENV_VAR}, else the per-user data directory)",
    )


def _redaction_option(parser: argparse.ArgumentParser, when: str = "") -> None:
    parser.add_argument(
        "--redaction-config",
        metavar="PATH",
        help=f"TOML file of extra redaction rules{when} (default: ${REDACTION_ENV_VAR}, else {REDACTION_FILENAME} "
        "in the per-user data directory if present, else the built-in rules)",
    )


def _redaction_rules(args: argparse.Namespace) -> RedactionRules:
    """The rules this command ingests under; a bad config raises before anything is opened or written."""
    from mcp_sessions.config import resolve_redaction_config
    from mcp_sessions.redact import DEFAULT_RULES, load_rules

    path = resolve_redaction_config(args.redaction_config)
    if path is None:
        return DEFAULT_RULES
    rules = load_rules(path)
    print(f"mcp-sessions: redaction rules from {path}", file=sys.stderr)
    return rules


def _receiver_options(parser: argparse.ArgumentParser, what: str = "") -> None:
    group = parser.add_argument_group(f"receiver limits{what}")
    group.add_argument("--max-body-mb", type=float, default=16, help="largest request, also decompressed (default 16)")
    group.add_argument(
        "--max-inflight-mb",
        type=float,
        default=256,
        help="memory budget for requests being decoded and written; beyond it 503 + Retry-After (default 256)",
    )
    group.add_argument(
        "--max-db-mb", type=float, help="storage quota: refuse new data (503) once the database is this big"
    )
    group.add_argument(
        "--max-connections", type=int, default=256, help="open connections at once; idle ones make room (default 256)"
    )


def _receiver_limits(args: argparse.Namespace) -> ReceiverLimits:
    from mcp_sessions.receiver_limits import MIB, ReceiverLimits

    try:
        max_body = int(args.max_body_mb * MIB)
        return ReceiverLimits(
            max_body=max_body,
            max_inflight=int(args.max_inflight_mb * MIB),
            max_reading=max(max_body, ReceiverLimits.max_reading),
            max_db_bytes=int(args.max_db_mb * MIB) if args.max_db_mb is not None else None,
            max_connections=args.max_connections,
        )
    except ValueError as exc:
        raise InvalidArgumentError(f"receiver limits: {exc}; give positive numbers") from None


def _wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=30,
        metavar="SECONDS",
        help="how long to wait while another mcp-sessions process writes the database (default 30)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-sessions",
        description="Index recorded user sessions and backend traces in SQLite and serve them to AI agents over MCP.",
    )
    parser.add_argument("--version", action="version", version=f"mcp-sessions {__version__}")
    _db_option(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ingest = commands.add_parser(
        "ingest",
        help="store recordings (files, directories, - for stdin)",
        description=f"Store {readable()}. "
        "Directories are read recursively; "
        "a file already ingested is skipped; a bad file is reported and stores nothing.",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, or - for standard input")
    _redaction_option(ingest)
    _wait_option(ingest)
    _db_option(ingest)

    collect = commands.add_parser(
        "collect",
        help="receive OTLP/HTTP from live OpenTelemetry exporters",
        description="Run an OTLP/HTTP receiver (POST /v1/traces, /v1/logs; protobuf or JSON, gzip) that stores "
        "what exporters send. Point OTEL_EXPORTER_OTLP_ENDPOINT at it. Ctrl-C stops it after writing everything "
        "it acknowledged.",
    )
    collect.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    collect.add_argument("--port", type=int, default=4318, help="port (default 4318, the OTLP/HTTP port)")
    _receiver_options(collect)
    _redaction_option(collect)
    _db_option(collect)

    serve = commands.add_parser(
        "serve",
        help="run the MCP server (stdio, or Streamable HTTP with --http)",
        description="Run the MCP server on standard input/output for IDE agents, or over Streamable HTTP for a "
        "shared server. The database is opened read-only and must exist (run `ingest` or `collect` first) "
        "unless --allow-ingest or --collect is given. Logs go to stderr.",
    )
    serve.add_argument("--http", action="store_true", help="serve Streamable HTTP at http://HOST:PORT/mcp")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    serve.add_argument(
        "--token",
        default=os.environ.get("MCP_SESSIONS_TOKEN"),
        help="bearer token HTTP clients must send (default $MCP_SESSIONS_TOKEN), 16 characters at least; required "
        "beyond loopback",
    )
    serve.add_argument(
        "--session-idle-minutes",
        type=float,
        default=30,
        metavar="MINUTES",
        help="an HTTP session unused this long is closed; the client starts a new one (default 30)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="a Host header clients may use besides loopback names (DNS-rebinding protection); repeatable",
    )
    serve.add_argument(
        "--allow-ingest",
        action="append",
        type=Path,
        metavar="ROOT",
        help="offer the ingest_recording tool, reading only under ROOT (repeatable); opens the database read-write",
    )
    serve.add_argument(
        "--collect",
        nargs="?",
        const="127.0.0.1:4318",
        metavar="HOST:PORT",
        help="also receive OTLP/HTTP in the same process (default 127.0.0.1:4318)",
    )
    _receiver_options(serve, " (with --collect)")
    _redaction_option(serve, " for --allow-ingest and --collect")
    _db_option(serve)

    demo = commands.add_parser(
        "demo",
        help="ingest the bundled recordings and walk through the tools as an agent would",
        description="Ingest the bundled recordings into a fresh database (a temporary file unless --db is given), "
        "start the MCP server over stdio and print each tool call with its answer. No network or browser needed.",
    )
    demo.add_argument("--recordings", type=Path, help="recordings to use instead of the bundled ones")
    _db_option(demo)

    migrate = commands.add_parser(
        "migrate",
        help="upgrade the database to this version's schema",
        description="Upgrade an existing database in place to the schema this mcp-sessions reads (writers such as "
        "ingest and collect do this on their own; the read-only `serve` asks for it). Nothing stored is lost.",
    )
    _wait_option(migrate)
    _db_option(migrate)

    prune = commands.add_parser(
        "prune",
        help="delete sessions older than an age, then reclaim the space",
        description="Delete every session that ended before the given age (with its traces, spans and logs), "
        "and unsessioned traces and logs as old; then rewrite the file so nothing removed stays on disk.",
    )
    prune.add_argument("--older-than", required=True, metavar="AGE", help="an age such as 30d, 12h, 90m, 2w")
    _db_option(prune)

    forget = commands.add_parser(
        "forget",
        help="erase everything of one user, then reclaim the space",
        description="Delete every session, trace, span and log of a user (by user id), then rewrite the file so "
        "nothing removed stays on disk.",
    )
    forget.add_argument("--user", required=True, metavar="ID", help="the user id as stored (see `sessions`)")
    _db_option(forget)

    report = commands.add_parser(
        "report",
        help="write a session (or one trace) as one HTML file that opens offline",
        description="Write the session timeline and its traces' waterfalls (the views MCP Apps hosts draw) into one "
        "static HTML file, data embedded as stored (redacted at ingest), to attach to a bug report or open in a "
        "browser; it fetches nothing.",
    )
    report.add_argument("session_id", nargs="?", metavar="SESSION_ID", help="the session, as `sessions` lists it")
    report.add_argument("--trace", metavar="TRACE_ID", help="a report of this one trace instead of a session")
    report.add_argument(
        "-o", "--output", metavar="FILE", help="where to write (default: mcp-sessions-report-<id>.html here)"
    )
    _db_option(report)

    sessions = commands.add_parser(
        "sessions", help="list sessions for humans", description="List indexed sessions, most recent first."
    )
    sessions.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    sessions.add_argument("--query", help="free text in id, user, service, URL or operation names")
    sessions.add_argument("--user", help="exact user id")
    sessions.add_argument("--service", help="exact service name")
    sessions.add_argument("--errors", action="store_true", help="only sessions with errors")
    sessions.add_argument("--sort", choices=["recent", "oldest", "slowest", "errors", "largest"], default="recent")
    _db_option(sessions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "demo":
        explicit = getattr(args, "db", None)
        try:
            return _run_demo(args, Path(explicit) if explicit else None)
        except McpSessionsError as exc:
            print(f"mcp-sessions: {exc}", file=sys.stderr)
            return EXIT_USAGE
    db_path = resolve_db_path(getattr(args, "db", None))
    try:
        return _COMMANDS[args.command](args, db_path)
    except McpSessionsError as exc:
        print(f"mcp-sessions: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def cmd_ingest(args: argparse.Namespace, db_path: Path) -> int:
    from mcp_sessions.ingest import ingest_paths
    from mcp_sessions.store import Store

    rules = _redaction_rules(args)
    stored = unchanged = failed = spans = logs = 0
    with Store(db_path, busy_timeout_s=args.wait) as store:
        for result in ingest_paths(store, args.paths, rules=rules):
            if result.status == "failed":
                failed += 1
                print(f"failed     {result.source}: {result.error}", file=sys.stderr)
                continue
            if result.status == "unchanged":
                unchanged += 1
                print(f"unchanged  {result.source} (already ingested)")
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
            if c.spans_duplicate or c.logs_duplicate:
                parts.append(f"{c.spans_duplicate + c.logs_duplicate} already stored")
            parts += [f"{n} {kind}s skipped" for kind, n in c.skipped.items()]
            if result.redactions:
                parts.append("masked " + ", ".join(f"{rule} {n}" for rule, n in result.redactions.items()))
            print(f"stored     {result.source} ({result.format}): {', '.join(parts)}")
    total = stored + unchanged + failed
    print(
        f"{total} inputs: {stored} stored, {unchanged} unchanged, {failed} failed; {spans} spans and {logs} logs "
        f"added to {db_path}"
    )
    return EXIT_PARTIAL if failed else EXIT_OK


def cmd_serve(args: argparse.Namespace, db_path: Path) -> int:
    import anyio

    from mcp_sessions.redact import DEFAULT_RULES
    from mcp_sessions.server import create_server
    from mcp_sessions.store import Store

    writes = bool(args.allow_ingest or args.collect)
    rules = _redaction_rules(args) if writes else DEFAULT_RULES
    limits = _receiver_limits(args) if args.collect else None
    # Open the file once now, so setup errors surface before the protocol starts: a writer creates or
    # upgrades it; the read-only server only checks it (and never creates -wal/-shm files, see store/sqlite/db.py).
    Store(db_path, readonly=not writes).close()
    mcp = create_server(db_path, ingest_roots=args.allow_ingest, redaction=rules)
    mcp_http = None
    if args.http or args.collect:  # the HTTP stack loads only when asked for: stdio starts faster without it
        from mcp_sessions import http, receiver
    if args.http:
        app = http.build_app(
            mcp,
            host=args.host,
            port=args.port,
            token=args.token,
            allowed_hosts=args.allowed_host,
            session_idle_s=args.session_idle_minutes * 60,
        )
        mcp_sock = receiver.bind(args.host, args.port)
        mcp_http = receiver.uvicorn_server(app)
        print(
            f"mcp-sessions: MCP over Streamable HTTP at http://{args.host}:{mcp_sock.getsockname()[1]}/mcp"
            + (" (bearer token required)" if args.token else ""),
            file=sys.stderr,
        )
    if not args.collect and mcp_http is None:
        mcp.run("stdio")
        return EXIT_OK

    async def run_all(collector_store: Store | None) -> None:
        collector = None
        async with anyio.create_task_group() as tasks:
            if collector_store is not None:
                host, port = _host_port(args.collect)
                sock = receiver.bind(host, port)
                print(f"mcp-sessions: receiving OTLP/HTTP on http://{host}:{sock.getsockname()[1]}", file=sys.stderr)
                collector = receiver.uvicorn_server(receiver.create_app(collector_store, limits=limits, rules=rules))
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


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise InvalidArgumentError(f"--collect {text!r}: expected HOST:PORT such as 127.0.0.1:4318")
    return host or "127.0.0.1", int(port)


def cmd_collect(args: argparse.Namespace, db_path: Path) -> int:
    import anyio

    from mcp_sessions import receiver
    from mcp_sessions.store import Store

    rules = _redaction_rules(args)
    limits = _receiver_limits(args)
    with Store(db_path) as store:
        sock = receiver.bind(args.host, args.port)
        port = sock.getsockname()[1]
        print(
            f"receiving OTLP/HTTP on http://{args.host}:{port} (POST /v1/traces, /v1/logs) into {db_path}; "
            f"set OTEL_EXPORTER_OTLP_ENDPOINT=http://{args.host}:{port}; Ctrl-C stops",
            file=sys.stderr,
        )
        anyio.run(lambda: receiver.serve_receiver(store, sock, limits=limits, rules=rules))
    return EXIT_OK


def cmd_sessions(args: argparse.Namespace, db_path: Path) -> int:
    from mcp_sessions.render.markdown import duration, timestamp
    from mcp_sessions.store import Store
    from mcp_sessions.store.sqlite import queries

    with Store(db_path, readonly=True) as store:
        page = queries.list_sessions(
            store.conn,
            queries.SessionFilter(
                text=args.query, user_id=args.user, service=args.service, has_errors=True if args.errors else None
            ),
            sort=args.sort,
            limit=max(1, args.limit),
        )
        unsessioned = queries.totals(store.conn)["unsessioned_traces"]
    if not page.rows:
        print(f"no sessions in {db_path}" + (" match" if args.query or args.user or args.errors else ""))
    rows = [("SESSION", "START (UTC)", "DURATION", "USER", "TRACES", "SPANS", "ERRORS", "FIRST URL")]
    for s in page.rows:
        rows.append(
            (
                s.session_id,
                timestamp(s.start_ns)[:19].replace("T", " "),
                duration(s.duration_ns),
                s.user_id or "-",
                str(s.trace_count),
                str(s.span_count),
                str(s.error_count),
                (s.first_url or "-")[:60],
            )
        )
    if page.rows:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        print(f"shows {len(page.rows)} of {page.total} sessions")
    if unsessioned:
        print(f"{unsessioned} traces carry no session key (ask an agent: list_traces(unsessioned=True))")
    return EXIT_OK


def cmd_report(args: argparse.Namespace, db_path: Path) -> int:
    import re

    from mcp_sessions.answers.report import session_report, trace_report
    from mcp_sessions.render.apps import TIMELINE_MAX_ENTRIES, WATERFALL_MAX_SPANS
    from mcp_sessions.render.apps.report import render_report
    from mcp_sessions.store import SqliteStore

    if bool(args.session_id) == bool(args.trace):
        raise InvalidArgumentError("report takes a SESSION_ID or --trace TRACE_ID (one of them); see `sessions`")
    store = SqliteStore(db_path, readonly=True)
    try:
        if args.trace:
            answer = trace_report(store, args.trace, spans_per_trace=WATERFALL_MAX_SPANS)
        else:
            answer = session_report(
                store, args.session_id, entry_limit=TIMELINE_MAX_ENTRIES, spans_per_trace=WATERFALL_MAX_SPANS
            )
        html = render_report(answer)
    finally:
        store.close()
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", args.trace or args.session_id)[:80]
    out = Path(args.output or f"mcp-sessions-report-{name}.html")
    out.write_text(html, encoding="utf-8")
    held = f"{len(answer.traces)} of {answer.trace_count} traces"
    print(f"wrote {out} ({held}, {len(html) / 1e3:.0f} kB); it opens offline in a browser")
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace, db_path: Path) -> int:
    from mcp_sessions.store.sqlite.db import migrate_file

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
        f"{what}: removed {r.sessions} sessions, {r.traces} traces, {r.spans} spans, {r.logs} logs; "
        f"{db_path} went from {r.bytes_before / 1e6:.2f} MB to {r.bytes_after / 1e6:.2f} MB"
    )


def cmd_prune(args: argparse.Namespace, db_path: Path) -> int:
    from mcp_sessions.params import parse_age
    from mcp_sessions.store import Store
    from mcp_sessions.store.sqlite.retention import prune_older_than

    cutoff = parse_age(args.older_than, "--older-than")
    with Store(db_path) as store:
        removed = prune_older_than(store.conn, cutoff)
    _report_removed(f"pruned sessions older than {args.older_than}", removed, db_path)
    return EXIT_OK


def cmd_forget(args: argparse.Namespace, db_path: Path) -> int:
    from mcp_sessions.store import Store
    from mcp_sessions.store.sqlite.retention import forget_user

    with Store(db_path) as store:
        removed = forget_user(store.conn, args.user)
    _report_removed(f"forgot user {args.user!r}", removed, db_path)
    return EXIT_OK


def _run_demo(args: argparse.Namespace, db_path: Path | None) -> int:
    from mcp_sessions.demo import run_demo

    return run_demo(db_path, args.recordings)


_COMMANDS = {
    "ingest": cmd_ingest,
    "collect": cmd_collect,
    "serve": cmd_serve,
    "sessions": cmd_sessions,
    "report": cmd_report,
    "migrate": cmd_migrate,
    "prune": cmd_prune,
    "forget": cmd_forget,
}
