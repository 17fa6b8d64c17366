"""What a newcomer installs: the sdist and the wheel `python -m build` makes, and the demo from an installed copy.

The build runs without isolation (the test extra installs build and setuptools), on a copy of
the tracked files, so it neither downloads anything nor writes into the checkout.
"""

from __future__ import annotations

import email
import gzip
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from fixtures import demo_data
from mcp_sessions import __version__
from mcp_sessions.demo import DEMO_DATA

ROOT = Path(__file__).resolve().parents[1]
NAME = f"mcp_sessions-{__version__}"
JUNK = ("__pycache__", ".pyc", ".db", "node_modules", ".hypothesis", ".pytest_cache", ".egg-info/")


def _tracked() -> list[str]:
    """The files of the source tree: git's list in a clone, else (an unpacked sdist) the files there are."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        return [p for p in listed.decode().split("\0") if p and (ROOT / p).is_file()]
    return [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*")
        if p.is_file() and not any(j in str(p.relative_to(ROOT)) for j in (*JUNK, "PKG-INFO", "setup.cfg"))
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, the wheel built from it (what `python -m build` does) and a wheel built straight from the tree."""
    tmp = tmp_path_factory.mktemp("build")
    src = tmp / "src"
    for name in _tracked():
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    for how, args in (("dist", []), ("direct", ["--wheel"])):
        done = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", *args, "--outdir", str(tmp / how), str(src)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {
        "sdist": tmp / "dist" / f"{NAME}.tar.gz",
        "wheel": tmp / "dist" / f"{NAME}-py3-none-any.whl",
        "direct": tmp / "direct" / f"{NAME}-py3-none-any.whl",
    }


def _members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_the_demo_data_is_the_fixtures_byte_for_byte():
    shipped = sorted(str(p.relative_to(DEMO_DATA)) for p in DEMO_DATA.rglob("*") if p.is_file())
    expected = sorted(str(demo_data.shipped_name(s)) for s in demo_data.sources())
    assert shipped == expected, "run `python -m fixtures.demo_data` after changing the recordings"
    for source in demo_data.sources():
        packed = (DEMO_DATA / demo_data.shipped_name(source)).read_bytes()
        assert packed[4:8] == b"\0\0\0\0", f"{source}: gzip header carries a time; rebuild with fixtures.demo_data"
        assert gzip.decompress(packed) == (demo_data.FIXTURES / source).read_bytes(), source


def test_the_wheel_holds_the_package_its_license_metadata_and_demo_data_and_nothing_else(built):
    files = _members(built["wheel"])
    dist_info = f"{NAME}.dist-info"
    assert files[f"{dist_info}/licenses/LICENSE"] == (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in files[f"{dist_info}/licenses/LICENSE"]
    meta = email.message_from_bytes(files[f"{dist_info}/METADATA"])
    assert meta["Name"] == "mcp-sessions" and meta["Version"] == __version__
    assert meta["License-Expression"] == "Apache-2.0" and meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == ">=3.11"
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.11" in classifiers and not any("License ::" in c for c in classifiers)
    assert not meta.get_all("Project-URL"), "the project has no public URL yet; do not invent one"
    assert meta.get_payload().startswith("# mcp-sessions")  # the README is the long description
    assert b"mcp-sessions = mcp_sessions.cli:main" in files[f"{dist_info}/entry_points.txt"]
    for source in demo_data.sources():
        assert f"mcp_sessions/demo_data/{demo_data.shipped_name(source)}" in files, source
    # the published output schemas (tools/schemas.py): without them the server derives each at start-up
    schemas = "mcp_sessions/tools/output_schemas.json"
    assert files[schemas] == (ROOT / schemas).read_bytes()
    for name in files:
        assert name.startswith(("mcp_sessions/", f"{dist_info}/")), name
        assert not any(j in name for j in JUNK), name
    package = {str(p.relative_to(ROOT)) for p in (ROOT / "mcp_sessions").rglob("*.py")}
    assert {n for n in files if n.endswith(".py")} == package


def test_the_sdist_is_the_source_tree_and_builds_the_same_wheel(built):
    with tarfile.open(built["sdist"]) as tar:
        names = {m.name.removeprefix(f"{NAME}/") for m in tar.getmembers() if m.isfile()}
    generated = {"PKG-INFO", "setup.cfg"} | {n for n in names if n.startswith("mcp_sessions.egg-info/")}
    assert names - generated == set(_tracked())
    # the tests come with the fixtures and samples' instructions they need; no installed or generated junk
    assert {"LICENSE", "CHANGELOG.md", "README.md", "tests/conftest.py", "fixtures/demo_data.py"} <= names
    assert not [n for n in names if any(j in n for j in JUNK if j != ".egg-info/")]
    # python -m build makes the wheel from the sdist: it must equal one made from the tree
    assert _members(built["wheel"]) == _members(built["direct"])


def test_an_installed_wheel_runs_the_demo_from_anywhere(built, tmp_path: Path):
    """A fresh virtual environment outside the checkout, the wheel installed, the demo run from another folder."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies come from this environment (no download); mcp-sessions itself only from the wheel.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "deps.pth").write_text("\n".join(deps) + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index"]
    subprocess.run([*install, str(built["wheel"])], check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MCP_SESSIONS_DB", "MCP_SESSIONS_CONFIG")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # no config file of this machine's user
    where = subprocess.run(
        [str(python), "-c", "import mcp_sessions; print(mcp_sessions.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(site), where  # the installed copy, not the checkout
    script = venv / ("Scripts" if os.name == "nt" else "bin") / "mcp-sessions"
    demo = subprocess.run(
        [str(script), "demo"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    out = demo.stdout
    first, second = out.splitlines()[:2]  # quiet: one line for the ingest, then the session with the server
    assert first.startswith("Ingested 12 recordings (") and second.startswith("Connected to `mcp-sessions serve`")
    assert "N+1" in out and "ValueError" in out
    tail = out.splitlines()[-5:]
    assert tail[1].startswith("  Claude Code:  claude mcp add --transport stdio mcp-sessions -- ")
    assert tail[2].startswith("  Cursor:       .cursor/mcp.json  ")
    assert tail[3].startswith("  VS Code:      code --add-mcp ")
    assert len(out.splitlines()) < 300  # quiet: no ingest lines, long answers cut
