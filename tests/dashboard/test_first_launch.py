"""First launch on an empty cache (issue 17): the first page shows the demo starting, never an
error, and keeps itself current (a fragment on a timer) so the same tab reaches the atlas."""
from __future__ import annotations

import subprocess

from streamlit.testing.v1 import AppTest

from core.jobs import launch
from core.store.paths import REPO_ROOT
from dashboard.state import jobs

APP = str(REPO_ROOT / "dashboard" / "app.py")


def test_empty_cache_shows_the_demo_starting_not_an_error(tmp_path, monkeypatch):
    spawned: list = []
    real_popen = subprocess.Popen

    def fake_popen(cmd, **kw):          # a live stand-in process: the demo "is starting"
        p = real_popen(["sleep", "60"], start_new_session=True)
        spawned.append((cmd, p))
        return p

    monkeypatch.setattr(launch, "subprocess", type("Sub", (), {"Popen": staticmethod(fake_popen),
                                                             "STDOUT": subprocess.STDOUT,
                                                             "DEVNULL": subprocess.DEVNULL}))
    monkeypatch.setenv("AE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("AE_DASHBOARD_AUTO_JOBS", "1")
    try:
        at = AppTest.from_file(APP, default_timeout=120).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert spawned and jobs.DEMO_RUN_ID in spawned[0][0]
        assert at.sidebar.selectbox(key="run_id").value == jobs.DEMO_RUN_ID
        assert any("not ready yet" in h.value for h in at.subheader), [h.value for h in at.subheader]
        at.run()                         # what the page's timer does: still progress, still no error
        assert not at.error and len(spawned) == 1
    finally:
        for _, p in spawned:
            p.kill()
            p.wait()


def test_the_first_look_is_small_and_the_full_demo_follows(tmp_path, monkeypatch):
    assert jobs.DEMO_CONFIG.data.synthetic_n * jobs.DEMO_CONFIG.train.epochs < 10_000
    assert jobs.FULL_DEMO_CONFIG.model.image_size == 64 and jobs.FULL_DEMO_CONFIG.model.z_dim == 256
    started = []
    monkeypatch.setattr(launch, "start_training", lambda rid, cfg, cache=None: started.append(rid) or True)
    monkeypatch.setenv("AE_DASHBOARD_AUTO_JOBS", "1")
    assert jobs.ensure_full_demo(tmp_path) is False                  # the first look is not done yet
    paths = launch.RunPaths.of(jobs.DEMO_RUN_ID, tmp_path)
    paths.folder.mkdir(parents=True)
    launch.atomic.write_json(paths.status, {"state": "done"})
    assert jobs.ensure_full_demo(tmp_path) is True and started == [jobs.FULL_DEMO_RUN_ID]
    (tmp_path / "runs" / "mine").mkdir()                             # a user's run: no demo joins it
    assert jobs.ensure_full_demo(tmp_path) is False and len(started) == 1
