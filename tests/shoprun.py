"""The demo shop as subprocesses on free ports, and drafted test files run against it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from netutil import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_shop(build: str, work: Path, **settings: str) -> Iterator[str]:
    """A freshly seeded shop of `build` (good | regressed) and its payments service; yields the base URL.

    `settings` are the shop's own environment variables (`SHOP_OTLP_ENDPOINT`); none are inherited.
    """
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"{build}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}  # no OTLP export, no stray settings
    env.update(settings)
    pay_port, shop_port = free_port(), free_port()
    with log.open("w") as sink:
        payments = subprocess.Popen(
            [sys.executable, "-m", "fixtures.shop.payments", "--port", str(pay_port)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=sink,
        )
        try:
            wait_for_port(pay_port, payments, log)
            shop = subprocess.Popen(
                [
                    *(sys.executable, "-m", "fixtures.shop.app", "--port", str(shop_port), "--build", build),
                    *("--payments-url", f"http://127.0.0.1:{pay_port}", "--db", str(work / f"{build}.db"), "--fresh"),
                ],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=sink,
            )
            try:
                wait_for_port(shop_port, shop, log, timeout=60)
                yield f"http://127.0.0.1:{shop_port}"
            finally:
                stop(shop)
        finally:
            stop(payments)


def run_drafted(source: str, work: Path, env: dict[str, str], name: str = "test_drafted.py") -> str:
    """Run one drafted module with pytest in its own folder; returns its output, with the exit code first."""
    work.mkdir(parents=True, exist_ok=True)
    (work / name).write_text(source)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-c", os.devnull, name],
        cwd=work,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env},  # the drafts need no plugins
        capture_output=True,
        text=True,
        timeout=180,
    )
    return f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
