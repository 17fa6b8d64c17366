"""Build the foreign corpus: recordings that real tools (OpenTelemetry SDKs, exporters and
auto-instrumentation nobody on this project wrote) produce, captured as the exporters POST them.

    generator (own process)  ──POST──►  capture server (127.0.0.1)  ──►  <out>/<recording>/0001.<ext>
                                                                         body bytes as sent

Every generator runs in a process of its own (instrumentation patches libraries process-wide)
and exports to its own path prefix. A recording is the folder of bodies one generator sent,
in arrival order; `ingest` reads the folder. Two recordings are derived from captured ones by
deleting one span's end (Zipkin `duration`, OTLP `endTimeUnixNano`), since no SDK exports a
span it has not ended, while real collectors do receive them (a client span whose process died).

`python tests/corpus/generate.py OUT` builds the whole corpus into OUT (the tests do this once
per session); see README.md beside this file for what each recording is.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
NODE = HERE / "node"
TIMEOUT_S = 60


@dataclass(frozen=True)
class Generator:
    name: str  # the recording's folder, and the capture prefix
    command: Callable[[str], list[str]]  # the process to run, given its export base URL
    env: dict[str, str]
    needs: tuple[str, ...] = ()  # Python modules (or "node_modules") it cannot run without
    ext: str = "json"


def _python(script: str) -> Callable[[str], list[str]]:
    return lambda base: [sys.executable, str(APPS / script), base]


def _instrumented(script: str) -> Callable[[str], list[str]]:
    def command(base: str) -> list[str]:
        launcher = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent)) or shutil.which(
            "opentelemetry-instrument"
        )
        assert launcher, "opentelemetry-instrument is not installed (pip install -e '.[test]')"
        return [launcher, sys.executable, str(APPS / script)]

    return command


_QUIET_NODE = {"OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}

GENERATORS = (
    Generator("zipkin-fanout", _python("zipkin_fanout.py"), {}, ("opentelemetry.exporter.zipkin.json",)),
    Generator(
        "flask-sqlalchemy",
        _instrumented("flask_shop.py"),
        {
            "OTEL_SERVICE_NAME": "flask-shop",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
        ("flask", "sqlalchemy", "opentelemetry.instrumentation.flask", "opentelemetry.instrumentation.sqlalchemy"),
        ext="pb",
    ),
    Generator(
        "fastapi-httpx", _python("fastapi_calls.py"), {}, ("fastapi", "opentelemetry.instrumentation.fastapi"), "pb"
    ),
    Generator("grpc-stream", _python("grpc_stream.py"), {}, ("grpc", "opentelemetry.instrumentation.grpc")),
    Generator("messaging", _python("messaging.py"), {}, (), "pb"),
    Generator("clock-skew", _python("clock_skew.py"), {}, ("opentelemetry.exporter.zipkin.json",)),
    Generator(
        "node-express",
        lambda base: ["node", str(NODE / "express_otlp.js"), base],
        _QUIET_NODE,
        ("node_modules",),
    ),
)

# derived recording -> (the captured recording it is made from, what is removed)
DERIVED = {
    "zipkin-no-duration": "zipkin-fanout",
    "node-no-end": "node-express",
}


def missing(generator: Generator) -> list[str]:
    """What `generator` needs that this machine lacks (empty when it can run)."""
    out = []
    for need in generator.needs:
        if need == "node_modules":
            if not (NODE / "node_modules" / "@opentelemetry" / "sdk-node").is_dir() or not shutil.which("node"):
                out.append("node + `npm ci --prefix tests/corpus/node`")
        elif importlib.util.find_spec(need.split(".")[0]) is None or importlib.util.find_spec(need) is None:
            out.append(f"the Python module {need} (pip install -e '.[test,corpus]')")
    return out


def _run(generator: Generator, url: str) -> str | None:
    """Run one generator; the error text when it failed."""
    env = {**os.environ, **generator.env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{url}/v1/traces"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    try:
        done = subprocess.run(
            generator.command(url), env=env, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=HERE
        )
    except subprocess.TimeoutExpired:
        return f"{generator.name} ran past {TIMEOUT_S} s"
    if done.returncode != 0:
        return f"{generator.name} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return None


def _derive_no_end(source: Path, target: Path) -> None:
    """Copy `source` with one span's end removed: a span that has children and is not a root."""
    target.mkdir(parents=True)
    done = False
    for body in sorted(source.iterdir()):
        data = json.loads(body.read_bytes())
        if not done and isinstance(data, list):  # Zipkin v2: drop `duration` of a span with children
            parents = {s.get("parentId") for s in data}
            for span in data:
                if span["id"] in parents and span.get("parentId"):
                    del span["duration"]
                    done = True
                    break
        elif not done:  # OTLP/JSON: endTimeUnixNano "0" on a span with children
            spans = [s for rs in data["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
            parents = {s.get("parentSpanId") for s in spans}
            for span in spans:
                if span["spanId"] in parents and span.get("parentSpanId"):
                    span["endTimeUnixNano"] = "0"
                    done = True
                    break
        (target / body.name).write_text(json.dumps(data))
    assert done, f"no span with children in {source}"


def build(out: Path, only: Collection[str] | None = None) -> dict[str, str | None]:
    """Build every recording (or those named in `only`, with what they are derived from) into `out/<name>/`;
    returns name -> None, or why it is not there."""
    from capture import CaptureServer

    out.mkdir(parents=True, exist_ok=True)
    status: dict[str, str | None] = {}
    with CaptureServer() as capture, ThreadPoolExecutor(max_workers=2) as pool:
        runnable = []
        wanted = None if only is None else {*only, *(DERIVED[n] for n in only if n in DERIVED)}
        for generator in GENERATORS:
            if wanted is not None and generator.name not in wanted:
                continue
            lacking = missing(generator)
            if lacking:
                status[generator.name] = "not built: needs " + ", ".join(lacking)
            else:
                runnable.append(generator)
        errors = pool.map(lambda g: _run(g, capture.url(g.name)), runnable)
        for generator, error in zip(runnable, errors, strict=True):
            bodies = capture.taken(generator.name)
            if error is None and not bodies:
                error = f"{generator.name} exported nothing"
            status[generator.name] = error
            if error is None:
                folder = out / generator.name
                folder.mkdir()
                for i, captured in enumerate(bodies, 1):
                    (folder / f"{i:04d}.{generator.ext}").write_bytes(captured.body)
    for name, source in DERIVED.items():
        if only is not None and name not in only:
            continue
        if status.get(source) is None:
            _derive_no_end(out / source, out / name)
            status[name] = None
        else:
            status[name] = f"not built: {source} was not"
    return status


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    for name, error in build(Path(sys.argv[1])).items():
        print(f"{name}: {error or 'ok'}")
