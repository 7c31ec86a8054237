"""README.md is a test: every command it shows runs here, so an example can never go stale.

README's code blocks (lines indented by four spaces) hold four kinds of lines:
- the two set-up commands: the app one is run (install, then the server answers and stops on
  SIGTERM); the test one is what .ci/run runs, so CI runs it;
- usage lines (with placeholders: ``[optional]``, ``{a,b}``, ``RUN_ID``, ``F``, ``...``): their
  sub-command and every option they name exist in ``python -m core``'s parser;
- example commands: run as written in a sandbox where README's paths exist
  (tests/readme_sandbox.py); only sizes are shrunk, by options appended to the line (argparse
  keeps the last value), and the cache is a temporary one (AE_CACHE_DIR);
- Python: the blocks of "Using core from Python", one after the other as one script, on the
  tiny run (README's examples open the run "tiny"; a string ending in ``..."`` is replaced by it).
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from core.store.paths import REPO_ROOT
from tests import readme_sandbox

README = (REPO_ROOT / "README.md").read_text()
SETUP = ("./install.sh && streamlit run dashboard/app.py", "./install.sh --dev && python3 -m pytest -q")
# appended to an example so that it runs in seconds on 2 cores (sizes only)
SHRINK = {"train": ["--epochs", "1", "--image-size", "32", "--widths", "8,16,16,32", "--z-dim", "8"],
          "import": ["--quiet"]}
PLACEHOLDER = re.compile(r"\[|\{[\w-]+(?:,[\w-]+)+\}|\.\.\.|(?<![-\w\"'])[A-Z][A-Z_]*\b")


def code_blocks(text: str) -> list[list[str]]:
    """Markdown's indented code blocks: runs of lines indented by 4+ spaces after a blank line."""
    blocks, cur, prev_blank = [], None, True
    for line in text.splitlines():
        if line.startswith("    ") and (cur is not None or prev_blank):
            cur = cur if cur is not None else []
            cur.append(line[4:])
        elif not line.strip() and cur is not None:
            cur.append("")
        else:
            if cur:
                blocks.append(cur)
            cur = None
        prev_blank = not line.strip()
    if cur:
        blocks.append(cur)
    return [[ln for ln in b] for b in blocks]


def shell_lines(block: list[str]) -> list[str]:
    """Commands of a block: continuation lines joined, comment lines and trailing comments dropped."""
    out, cur = [], ""
    for line in block:
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        cur += (" " if cur else "") + s.rstrip("\\").strip()
        if not s.endswith("\\"):
            out.append(re.sub(r"\s+#\s.*$", "", cur))
            cur = ""
    return [c for c in out if re.match(r"(\./|python|streamlit|torchrun|pip|bash)", c)]


BLOCKS = code_blocks(README)
COMMANDS = [c for b in BLOCKS for c in shell_lines(b)]
CORE = [c for c in COMMANDS if c.startswith(("python -m core", "python3 -m core"))]
USAGE = [c for c in CORE if PLACEHOLDER.search(c.split("core", 1)[1])]
EXAMPLES = [c for c in CORE if c not in USAGE]

def python_section(text: str) -> str:
    """The code blocks of README's "Using core from Python" section, as one script (they build
    on each other: the first imports, the next open a run, ...)."""
    sec = text.split("## Using core from Python", 1)[1].split("\n## ", 1)[0]
    return "\n".join("\n".join(b) for b in code_blocks(sec))


PYTHON = [python_section(README)]


def test_the_readme_is_parsed():
    """The parser of this test finds what README shows (a change of format must not silently
    leave commands untested)."""
    assert set(SETUP) <= set(COMMANDS)
    assert len(EXAMPLES) >= 6 and len(USAGE) >= 6 and PYTHON
    assert all(c in SETUP or c in CORE for c in COMMANDS), [c for c in COMMANDS if c not in SETUP + tuple(CORE)]


@pytest.mark.parametrize("line", USAGE)
def test_usage_lines_name_real_options(line):
    from core.cli import build_parser

    words = line.split("core", 1)[1].split()
    subs = build_parser()._subparsers._group_actions[0].choices
    assert words[0] in subs, f"README names a sub-command that does not exist: {words[0]}"
    known = {o for a in subs[words[0]]._actions for o in a.option_strings}
    named = {re.sub(r"[=\[\]].*$", "", w.strip("[]")) for w in words[1:] if w.lstrip("[").startswith("--")}
    assert named <= known, f"{line}: unknown options {sorted(named - known)}"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    return readme_sandbox.build(tmp_path_factory.mktemp("readme"))


def _as_run(line: str, box: dict) -> list[str]:
    line = line.replace("/path/to/celeba", str(box["celeba"])).replace("/path/to/images", str(box["images"]))
    args = shlex.split(line.replace("~/", str(box["home"]) + "/"))
    assert args[:3] in (["python", "-m", "core"], ["python3", "-m", "core"])
    return [sys.executable, *args[1:], *SHRINK.get(args[3], [])]


@pytest.mark.slow
@pytest.mark.parametrize("line", EXAMPLES)
def test_example_commands_run(line, sandbox, tmp_path):
    env = {**os.environ, "AE_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(sandbox["home"]),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    r = subprocess.run(_as_run(line, sandbox), cwd=sandbox["work"], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"README line failed ({r.returncode}):\n{line}\n{r.stderr[-3000:]}"
    runs = list((tmp_path / "cache" / "runs").glob("*/z.npy"))
    assert len(runs) == 1, "every README example makes one complete run"


@pytest.mark.parametrize("i", range(len(PYTHON)))
def test_python_blocks_run(i, copy_tiny, tmp_path):
    code = re.sub(r'"[\w.-]*\.\.\."', repr("tiny"), PYTHON[i])
    copy_tiny(tmp_path / "cache")          # the examples may write derived files: never into the shared run
    env = {**os.environ, "AE_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO_ROOT),
           "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"README Python block failed:\n{code}\n{r.stderr[-3000:]}"


def test_the_test_command_is_what_ci_runs():
    """README's second command is CI's: .ci/run installs with --dev and runs the same pytest."""
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert SETUP[1].split(" && ")[0] == "./install.sh --dev"
    assert "install.sh --dev" in ci and re.search(r"^python3 -m pytest -q\b", ci, re.M)


@pytest.mark.slow
def test_the_app_command_installs_and_serves(tmp_path):
    """README's first command on an empty cache: the install succeeds, the server answers, and
    it stops on SIGTERM (background jobs are off here: the first-launch demo has its own test)."""
    install, serve = SETUP[0].split(" && ")
    r = subprocess.run(["bash", *install.split()], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    port = _free_port()
    env = {**os.environ, "AE_CACHE_DIR": str(tmp_path), "AE_DASHBOARD_AUTO_JOBS": "0", "PYTHONPATH": str(REPO_ROOT)}
    p = subprocess.Popen([*serve.split(), "--server.port", str(port), "--server.headless", "true"], cwd=REPO_ROOT,
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = _wait_for(f"http://127.0.0.1:{port}/_stcore/health", 120)
        assert body == "ok"
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)            # liveness bound, not a timing check
    assert rc is not None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, limit_s: float) -> str:
    end = time.monotonic() + limit_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def test_readme_paths_exist():
    """Files and folders README names in backticks exist (a renamed module leaves no stale name)."""
    names = set(re.findall(r"`((?:core|dashboard|tests|bench)/[\w/.-]+|[\w-]+\.(?:sh|toml)|requirements[\w-]*\.txt)`",
                           README))
    missing = [n for n in sorted(names) if not (REPO_ROOT / n.rstrip("/")).exists()]
    assert not missing, f"README names files that do not exist: {missing}"


def test_blocks_helpers_on_a_known_text():
    text = "intro\n\n    cmd one \\\n        --flag x   # why\n    # a comment\n    python -m core runs\n\nafter\n"
    (block,) = code_blocks(text)
    assert shell_lines(["python -m core a \\", "    --b c   # note", "# skip", "echo hi"]) == ["python -m core a --b c"]
    assert block[0] == "cmd one \\" and PLACEHOLDER.search(" sample RUN_ID") and not PLACEHOLDER.search(" runs --q")

