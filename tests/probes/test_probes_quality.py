"""Probes (issue 18, item 5): ``core quality`` killed with kill -9 and run again, and damaged cached
feature files. A stand-in extractor (pixel features, as in the Quality page's test) keeps it fast;
what is probed is the job's caching, not Inception."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import launch
from core.store.paths import REPO_ROOT
from tests.dashboard.test_dashboard_quality import PixelFeatures
from tests.probes import tally as probes

ARGS = ["--rows", "REC,REAL,cube", "--n", "10", "--n-ref", "10", "--device", "cpu", "--quiet"]
KILLED = """
import sys, time
from pathlib import Path
from core.quality import inception
from tests.dashboard.test_dashboard_quality import PixelFeatures

class Stalls(PixelFeatures):
    calls = 0

    def features(self, images, progress=None):
        Stalls.calls += 1
        if Stalls.calls == 4:           # both references and the first row are on disk
            Path(sys.argv[1]).write_text("mid-row")
            time.sleep(600)
        return super().features(images, progress)

inception.InceptionFeatures = Stalls
from core.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    from core.quality import inception

    probes.make_run(tmp_path / "cache", "r", n=100)
    monkeypatch.setattr(inception, "InceptionFeatures", PixelFeatures)
    return tmp_path / "cache"


def _files(cache: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in (cache / "runs" / "r" / "derived" / "quality").rglob("*-*.*")
            if p.name.startswith(("row-", "ref-"))}


def _quality(cache: Path):
    return probes.run_cli("quality", "r", *ARGS, "--cache-dir", cache)


def _page(cache: Path, app_env) -> AppTest:
    app_env(cache)
    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    return at.switch_page("views/quality.py").run()


def test_quality_killed_and_run_again(cache, tmp_path, app_env):
    marker = tmp_path / "marker"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    p = subprocess.Popen([sys.executable, "-c", KILLED, str(marker), "quality", "r", *ARGS, "--cache-dir", str(cache)],
                         cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 240             # liveness wait, not a timing check
    while not marker.exists() and p.poll() is None and time.monotonic() < end:
        time.sleep(0.2)
    assert marker.exists(), p.stderr.read() if p.poll() is not None else "never reached the second row"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    before = _files(cache)
    from core.store.paths import RunPaths

    state = launch.quality_state(RunPaths.of("r", cache)).get("state")
    at = _page(cache, app_env)
    said = any("interrupted" in w.value and "start it again" in w.value for w in at.warning)
    probes.check("quality page after kill -9", "clear" if said and state == "interrupted" and not at.exception
                 else "silent", f"state={state} {[w.value for w in at.warning]}")
    rc, out, err, exc = _quality(cache)
    after = _files(cache)
    kept = all(after.get(k) == v for k, v in before.items())
    ok = rc == 0 and exc is None and len([k for k in after if k.endswith(".json")]) == 3 and kept
    probes.check("quality run again after kill -9 (finished rows reused)", "handled" if ok else "lost",
                 f"rc={rc} {err}\nbefore={sorted(before)}\nafter={sorted(after)}")


def _damage(path: Path, how: str) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2] if how == "truncated" else os.urandom(300))


@pytest.mark.parametrize("target,how", [("ref", "truncated"), ("ref", "garbage"), ("row-json", "garbage"),
                                        ("row-npz", "truncated"), ("row-npz", "garbage")])
def test_damaged_feature_caches(cache, app_env, target, how):
    rc, out, err, exc = _quality(cache)
    assert rc == 0, err
    folder = next((cache / "runs" / "r" / "derived" / "quality").iterdir())
    pattern = {"ref": "ref-*.npz", "row-json": "row-*.json", "row-npz": "row-*.npz"}[target]
    victim = sorted(folder.glob(pattern))[0]
    _damage(victim, how)
    at = _page(cache, app_env)
    if target != "ref":       # the page reads the rows, never the references
        shown = [w.value for w in at.warning] + [c.value for c in at.caption]
        said = any(victim.name in s if target == "row-json" else "no faces to show" in s for s in shown)
        probes.check(f"quality page with {target} {how}", "clear" if said and not at.exception else "silent",
                     f"{[e.value for e in at.exception]} {shown}")
    stem = victim.name.split(".")[0]
    others = {k: v for k, v in _files(cache).items() if not k.startswith(stem)}
    rc, out, err, exc = _quality(cache)
    from core.quality.table import load_record, load_ref

    whole = load_ref(victim) is not None if target == "ref" else load_record(folder, stem[4:]) is not None
    kept = all(_files(cache).get(k) == v for k, v in others.items())
    probes.check(f"quality run again with {target} {how}", "handled" if rc == 0 and whole and kept else "silent",
                 f"rc={rc} {err} whole={whole} kept={kept}")
