"""Run store, split rules, the sample CLI and the Generator on a tiny real run (RunSampler)."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.sampling.session import RunSampler
from core.jobs.train_run import RunBusyError, _split_rows, is_locked, run_lock
from core.store.runs import list_runs, open_run
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT


def test_split_uses_partition_then_falls_back():
    idx = pd.DataFrame({"partition": ["train"] * 8 + ["valid"] * 2})
    tr, va = _split_rows(idx)
    assert list(va) == [8, 9] and len(tr) == 8
    only_train = pd.DataFrame({"partition": ["train"] * 100})  # e.g. --limit on CelebA
    tr, va = _split_rows(only_train, seed=1, val_fraction=0.1)
    assert len(va) == 10 and len(tr) == 90 and not set(tr) & set(va)
    with pytest.raises(ValueError, match="no training"):
        _split_rows(pd.DataFrame({"partition": ["valid"] * 3}))


def test_run_lock_is_exclusive(tmp_path):
    with run_lock(tmp_path / "r"):
        assert is_locked(tmp_path / "r")
        with pytest.raises(RunBusyError):
            with run_lock(tmp_path / "r"):
                pass
    assert not is_locked(tmp_path / "r")


def test_tiny_run_is_complete_and_consistent(tiny_run):
    z, index = tiny_run.z(), tiny_run.index()
    assert z.dtype == np.float32 and z.shape == (300, 16)
    assert len(index) == 300 and list(index["row"]) == list(range(300))
    assert {"image_id", "partition", "Smiling", "recon_mse"} <= set(index.columns)
    assert tiny_run.images().shape == (300, 32, 32, 3)
    assert [r.run_id for r in list_runs(tiny_run.path.parents[1])] == ["tiny"]
    h = tiny_run.history()
    assert len(h) == 2 and all(np.isfinite(r["val_loss"]) for r in h)


def test_open_unknown_run_names_known_ones(tiny_run):
    with pytest.raises(FileNotFoundError, match="tiny"):
        open_run("nope", tiny_run.path.parents[1])


def test_generator_batch_and_reference(tiny_run):
    gen = RunSampler(tiny_run)
    b1 = gen.batch("box", 21, seed=3, fact=1.0)
    b2 = gen.batch("box", 21, seed=3, fact=1.0)
    b3 = gen.batch("box", 21, seed=3, fact=2.0)
    assert b1.images.shape == (21, 32, 32, 3) and b1.images.dtype == np.uint8
    np.testing.assert_array_equal(b1.z, b2.z)
    assert not np.array_equal(b1.images, b3.images)
    d = b1.diagnostics
    # the naive cube lies farther from the real points than the blog's box
    cube = gen.batch("cube", 21, seed=3, b=3.0).diagnostics
    assert cube["sample_mahalanobis_mean"] > d["sample_mahalanobis_mean"]
    assert d["real_nn_mean"] > 0


def test_sample_cli_writes_grid(tiny_run, tmp_path):
    out = tmp_path / "g.png"
    r = subprocess.run([sys.executable, "-m", "core", "sample", "tiny", "--sampler", "box", "--fact", "0.5",
                        "--out", str(out), "--save-z", str(tmp_path / "z.npy"),
                        "--cache-dir", str(tiny_run.path.parents[1])],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    im = Image.open(out)
    assert im.size == (7 * 34 + 2, 3 * 34 + 2)  # 3 x 7 faces of 32 px, 2 px padding
    assert np.load(tmp_path / "z.npy").shape == (21, 16)
    assert "Mahalanobis" in r.stdout
    bad = subprocess.run([sys.executable, "-m", "core", "sample", "tiny", "--sampler", "nope", "--out", str(out),
                          "--cache-dir", str(tiny_run.path.parents[1])], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_sample_grid_scale(tiny_run, tmp_path):
    from core.cli import main

    cache = str(tiny_run.path.parents[1])
    small, big = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["sample", "tiny", "--n", "3", "--out", str(small), "--cache-dir", cache]) == 0
    assert main(["sample", "tiny", "--n", "3", "--scale", "3", "--out", str(big), "--cache-dir", cache]) == 0
    w, h = Image.open(small).size
    assert Image.open(big).size == (3 * w, 3 * h)
    assert main(["sample", "tiny", "--scale", "0", "--out", str(big), "--cache-dir", cache]) == 2
