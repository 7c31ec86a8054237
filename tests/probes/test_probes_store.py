"""Probes (issue 18, item 4 and the store's unprobed files): NaN in z.npy, a damaged status.json or
config.json, a --cache-dir that is a file, links to runs that do not exist. Each is named with its
way out (the command that mends it), in the listing, the sidebar, the commands and ``train``."""
from __future__ import annotations

import os

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.store import atomic
from core.store.paths import REPO_ROOT
from tests.probes import tally as probes

APP = str(REPO_ROOT / "dashboard" / "app.py")
TINY = ["--dataset", "synthetic", "--synthetic-n", "40", "--image-size", "32", "--widths", "4,8,8,16",
        "--z-dim", "8", "--epochs", "1", "--quiet"]
MEND = r"python -m core train --config \S+config\.json --run-id r"


@pytest.fixture
def run(tmp_path):
    return probes.make_run(tmp_path / "cache", "r")


def _nan_z(run) -> None:
    z = np.load(run.path / "z.npy")
    z[[3, 7], 1] = np.nan
    z[11, 0] = np.inf
    atomic.save_npy(run.path / "z.npy", z)


def _listed(cache) -> str:
    rc, out, err, exc = probes.run_cli("runs", "--cache-dir", cache)
    assert rc == 0 and exc is None, err
    return next(ln for ln in out.splitlines() if ln.startswith("r "))


def test_nan_z_is_broken_everywhere_and_train_mends_it(run, tmp_path):
    import re

    cache = run.path.parents[1]
    _nan_z(run)
    line = _listed(cache)
    ok = "broken" in line and "3 of 40 z-points hold NaN or inf (rows 3, 7, 11)" in line and re.search(MEND, line)
    probes.check("runs: z.npy with NaN", "clear" if ok else "silent", line)
    for cmd, extra in (("sample", ["--out", tmp_path / "g.png"]), ("derive", []), ("recon", ["--out", tmp_path / "g.png"])):
        probes.expect_refused(f"{cmd} on z.npy with NaN", cmd, "r", *extra, "--cache-dir", cache,
                              match=r"z\.npy is broken: 3 of 40 z-points hold NaN.*" + MEND)
    rc, out, err, exc = probes.run_cli("train", "--config", run.path / "config.json", "--run-id", "r", "--quiet",
                                       "--cache-dir", cache)
    mended = rc == 0 and "rebuilding" in err and np.isfinite(np.load(run.path / "z.npy")).all()
    probes.check("train on a done run with NaN in z.npy", "handled" if mended else "silent", f"rc={rc} {err}")
    assert " done " in _listed(cache)


def test_nan_z_in_the_sidebar_and_pages(run, app_env):
    _nan_z(run)
    app_env(run.path.parents[1])
    at = AppTest.from_file(APP, default_timeout=120).run()
    cap = " ".join(c.value for c in at.sidebar.caption)
    said = "**broken**" in cap and "hold NaN or inf" in cap and "python -m core train" in cap
    at.switch_page("views/components.py").run()
    page = " ".join(e.value for e in at.error)
    ok = said and not at.exception and "z.npy" in page and "NaN" in page
    probes.check("dashboard on a run with NaN in z.npy", "clear" if ok else "silent", f"{cap}\n{page}")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not an object"])
def test_damaged_status_json(run, tmp_path, damage):
    cache, p = run.path.parents[1], run.path / "status.json"
    p.write_bytes({"truncated": p.read_bytes()[:9], "garbage": os.urandom(64), "not an object": b"[1, 2]"}[damage])
    line = _listed(cache)
    probes.check(f"runs with status.json {damage}", "clear" if "broken" in line and "status.json" in line
                 and "python -m core train" in line else "silent", line)
    probes.expect_refused(f"sample with status.json {damage}", "sample", "r", "--out", tmp_path / "g.png",
                          "--cache-dir", cache, match=r"status\.json is broken.*" + MEND)
    assert not (tmp_path / "g.png").exists()
    rc, out, err, exc = probes.run_cli("train", "--config", run.path / "config.json", "--run-id", "r", "--quiet",
                                       "--cache-dir", cache)
    probes.check(f"train mends status.json {damage}", "handled" if rc == 0 and " done " in _listed(cache)
                 else "silent", err)


def test_truncated_config_json_is_named(run):
    cache, p = run.path.parents[1], run.path / "config.json"
    p.write_bytes(p.read_bytes()[:200])
    probes.expect_refused("train after a truncated config.json", "train", *TINY, "--run-id", "r", "--cache-dir", cache,
                          match=r"runs/r/config\.json is broken: unreadable JSON.*delete the run folder")
    probes.expect_refused("train --config <truncated config.json>", "train", "--config", p, "--run-id", "r",
                          "--cache-dir", cache, match=r"--config \S+config\.json: cannot read")
    assert "config.json" in _listed(cache) and "broken" in _listed(cache)


def test_damaged_index_parquet_is_listed_broken(run):
    (run.path / "index.parquet").write_bytes(b"PAR1 not really")
    line = _listed(run.path.parents[1])
    probes.check("runs with a damaged index.parquet", "clear" if "broken" in line and "index.parquet" in line
                 else "silent", line)


COMMANDS = {"runs": [], "sample": ["r", "--out", "g.png"], "derive": ["r"], "recon": ["r", "--out", "g.png"],
            "quality": ["r"], "train": TINY, "import": ["--z-points", "z.npy"]}


@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_cache_dir_that_is_a_file(tmp_path, cmd):
    (tmp_path / "afile").write_text("not a cache")
    probes.expect_refused(f"{cmd} --cache-dir FILE", cmd, *COMMANDS[cmd], "--cache-dir", tmp_path / "afile",
                          match=r"--cache-dir \S+afile is a file, not a folder")
    probes.expect_refused(f"{cmd} --cache-dir FILE/sub", cmd, *COMMANDS[cmd], "--cache-dir",
                          tmp_path / "afile" / "sub", match=r"afile is a file, not a folder")
    assert (tmp_path / "afile").read_text() == "not a cache"


def test_cache_dir_env_that_is_a_file(tmp_path, monkeypatch, app_env):
    (tmp_path / "afile").write_text("not a cache")
    app_env(tmp_path / "afile")
    probes.expect_refused("AE_CACHE_DIR=FILE runs", "runs", match=r"AE_CACHE_DIR \S+afile is a file")
    at = AppTest.from_file(APP, default_timeout=120).run()
    said = any("AE_CACHE_DIR" in e.value and "is a file" in e.value for e in at.error)
    probes.check("dashboard with AE_CACHE_DIR=FILE", "clear" if said and not at.exception else "silent",
                 str([e.value for e in at.error]))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_unreadable_cache_dir(tmp_path):
    (tmp_path / "locked").mkdir(mode=0)
    try:
        probes.expect_refused("runs --cache-dir UNREADABLE", "runs", "--cache-dir", tmp_path / "locked",
                              match="not readable")
    finally:
        (tmp_path / "locked").chmod(0o755)


@pytest.mark.parametrize("wanted", ["../../etc", "<script>alert(1)</script>", "nope", ".hidden"])
def test_link_to_a_run_that_is_not_there(run, app_env, wanted):
    app_env(run.path.parents[1])
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["run"] = wanted
    at.run()
    said = [e.value for e in at.error if repr(wanted) in e.value and "known runs: r" in e.value]
    probes.check(f"?run={wanted}", "clear" if said and not at.exception else "silent",
                 str([e.value for e in at.error]))
