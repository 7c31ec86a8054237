"""Probes (issue 18, item 5): a damaged UMAP file, a damaged checkpoint, and a run's files truncated
in place while the dashboard is serving it. Each is named and repaired (fitted or trained again)
or refused with a message, never used in silence and never a traceback."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from core.jobs import launch
from core.store.paths import REPO_ROOT, RunPaths
from tests.probes import tally as probes

TINY = ["--dataset", "synthetic", "--synthetic-n", "64", "--image-size", "32", "--widths", "4,8,8,16",
        "--z-dim", "8", "--epochs", "2", "--batch-size", "16", "--quiet"]


def _cheap_umap(monkeypatch) -> list:
    """umap-learn's fit (a minute of numba compilation) replaced by the PCA plane: the probe is
    about the cached file, not the fit. Returns the list of fits made."""
    from core.maps import embedding

    fits = []

    def fit(z, *, z_key, progress=None, **request):
        fits.append(z_key)
        return embedding.Embedding(embedding.pca_2d(np.asarray(z)).astype(np.float32), {"method": "pca"}, z_key), None
    monkeypatch.setattr(embedding, "fit_umap", fit)
    return fits


@pytest.mark.parametrize("how", ["truncated coordinates", "garbage sidecar", "deleted coordinates"])
def test_damaged_umap_is_fitted_again(tmp_path, monkeypatch, how):
    from core.jobs.derive import derive

    fits = _cheap_umap(monkeypatch)
    probes.make_run(tmp_path / "cache", "r", n=60)
    st = derive("r", tmp_path / "cache")
    paths = RunPaths.of("r", tmp_path / "cache")
    assert launch.umap_ready(paths) and len(fits) == 1
    npy, side = (paths.derived / n for n in st["umap_files"])
    if how == "truncated coordinates":
        npy.write_bytes(npy.read_bytes()[:-16])
    elif how == "garbage sidecar":
        side.write_bytes(os.urandom(100))
    else:
        npy.unlink()
    noticed = not launch.umap_ready(paths)          # so the sidebar starts the derive job again
    derive("r", tmp_path / "cache")
    ok = noticed and len(fits) == 2 and launch.umap_ready(paths) and np.load(npy).shape == (60, 2)
    probes.check(f"UMAP file {how}", "handled" if ok else "silent", f"noticed={noticed} fits={len(fits)}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small run trained by the CLI with a checkpoint after every batch."""
    cache = tmp_path_factory.mktemp("ckpt")
    rc, out, err, exc = probes.run_cli("train", *TINY, "--checkpoint-minutes", "0", "--run-id", "r",
                                       "--cache-dir", cache)
    assert rc == 0, err
    return cache


def _nan_checkpoint(p) -> None:
    state = torch.load(p, weights_only=True)
    next(iter(state["model"].values())).fill_(float("nan"))
    torch.save(state, p)


@pytest.mark.parametrize("how", ["garbage", "truncated", "nan weights"])
def test_damaged_checkpoint_on_resume(trained, tmp_path, how):
    cache = tmp_path / "cache"
    shutil.copytree(trained, cache, ignore=shutil.ignore_patterns("*.lock"))
    run = cache / "runs" / "r"
    for name in ("weights.safetensors", "z.npy", "index.parquet"):   # as if killed while training
        (run / name).unlink()
    (run / "status.json").write_text(json.dumps({"state": "training", "epoch": 2, "epochs": 2}))
    ck = run / "checkpoint.pt"
    if how == "garbage":
        ck.write_bytes(os.urandom(2000))
    elif how == "truncated":
        ck.write_bytes(ck.read_bytes()[:3000])
    else:
        _nan_checkpoint(ck)
    rc, out, err, exc = probes.run_cli("train", "--config", run / "config.json", "--run-id", "r", "--quiet",
                                       "--cache-dir", cache)
    ok = (rc == 0 and "ignoring unreadable checkpoint" in err and "checkpoint.pt" in err
          and np.isfinite(np.load(run / "z.npy")).all())
    probes.check(f"train resumes past a checkpoint {how}", "handled" if ok else ("crash" if exc else "silent"),
                 f"rc={rc} {err}")


SERVER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from streamlit.testing.v1 import AppTest
    run, pages, app, out = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3], {}
    at = AppTest.from_file(app, default_timeout=180).run()
    for page in pages:
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
    data = Path(json.loads((run / "config.json").read_text())["data_path"])
    for f in [run / n for n in ("z.npy", "index.parquet", "weights.safetensors", "config.json", "status.json",
                                "history.json")] + [data / "images.npy"]:
        whole = f.read_bytes()
        with open(f, "r+b") as fh:      # in place (same inode), as another process would
            fh.truncate(max(1, len(whole) // 3))
        for label, app_ in (("open session", at), ("new session", AppTest.from_file(app, default_timeout=180))):
            if label == "new session":
                app_.run()
            for page in pages:
                app_.switch_page(f"views/{page}.py").run()
                out[f"{f.name} truncated: {page} ({label})"] = {
                    "exc": [str(e.value)[:300] for e in app_.exception],
                    "said": [str(e.value)[:200] for e in [*app_.error, *app_.info] if "ONNX" not in str(e.value)]}
        with open(f, "r+b") as fh:      # mended the same way, for the next file's turn
            fh.write(whole)
    print("RESULT " + json.dumps(out))
""")
PAGES = ["overview", "components", "generator", "navigate"]


def test_files_truncated_while_the_dashboard_serves(tmp_path):
    """Each file of a run cut to a third in place under a serving dashboard, one at a time: the
    open session and a new one must go on or say what broke, never a traceback or a signal."""
    run = probes.make_run(tmp_path / "cache", "r", n=60)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AE_CACHE_DIR": str(tmp_path / "cache"),
           "AE_DASHBOARD_AUTO_JOBS": "0", "PYTHONPATH": str(REPO_ROOT)}
    p = subprocess.run([sys.executable, "-c", SERVER, str(run.path), ",".join(PAGES),
                        str(REPO_ROOT / "dashboard" / "app.py")], cwd=REPO_ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if p.returncode or line is None:      # a signal (SIGBUS) or a traceback: the server would be gone
        probes.check("files truncated under the dashboard", "crash", f"rc={p.returncode}\n{p.stderr[-3000:]}")
    for what, r in json.loads(line[7:]).items():
        probes.check(what, "crash" if r["exc"] else "handled", json.dumps(r))
