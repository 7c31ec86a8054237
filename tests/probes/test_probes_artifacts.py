"""Probes (issue 8, items 3, 4, 11): damaged weights, run files that disagree, a z.npy
truncated under a running server. Broken files are named with a repair, never used silently;
``train`` rebuilds damaged weights from the run's checkpoint; the server survives truncation."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.probes import tally as probes
from core.errors import BrokenArtifactError, NonFiniteError
from core.store import atomic
from core.store.runs import open_run
from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT


@pytest.fixture
def run(tmp_path):
    return probes.make_run(tmp_path / "cache", "r")


def _sample(run, tmp_path, probe, match):
    probes.expect_refused(probe, "sample", run.run_id, "--out", tmp_path / "g.png", "--cache-dir",
                          run.path.parents[1], match=match)
    assert not (tmp_path / "g.png").exists()


# -- item 3: weights ---------------------------------------------------------------------------
def _randomize_payload(path: Path) -> None:
    """Keep the safetensors header, overwrite every tensor byte with random bytes (random
    float32 bit patterns include NaN and inf: the 'exit 0, all-black grid' case)."""
    b = bytearray(path.read_bytes())
    head = 8 + int.from_bytes(b[:8], "little")
    b[head:] = np.random.default_rng(0).integers(0, 256, len(b) - head, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("damage", ["random_bytes", "truncated", "random_payload", "empty", "nan_tensor",
                                    "other_model", "deleted"])
def test_damaged_weights_are_named(run, tmp_path, damage):
    w = run.path / "weights.safetensors"
    if damage == "random_bytes":
        w.write_bytes(os.urandom(w.stat().st_size))
    elif damage == "truncated":
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    elif damage == "random_payload":
        _randomize_payload(w)
    elif damage == "empty":
        w.write_bytes(b"")
    elif damage == "other_model":   # weights copied over from a run with another z_dim
        probes.make_run(tmp_path / "other", "o", z_dim=9)
        w.write_bytes((tmp_path / "other" / "runs" / "o" / "weights.safetensors").read_bytes())
    elif damage == "deleted":
        w.unlink()
    else:
        from safetensors.torch import load_file, save_file

        state = load_file(str(w))
        state["to_z.weight"][0, 0] = float("nan")
        save_file(state, str(w), metadata={"model_config": atomic.json.dumps(run.config.model.to_dict())})
    _sample(run, tmp_path, f"sample with weights {damage}", r"weights\.safetensors is (broken|missing).*python -m core train")
    probes.refused(f"Run.load_model with weights {damage}", run.load_model, BrokenArtifactError, "weights.safetensors")


def test_decoder_output_checked_for_nan(run):
    import torch

    from core.model.autoencoder import decode_numpy

    model = run.load_model()
    with torch.no_grad():
        model.from_z.weight.fill_(float("inf"))
    probes.refused("decoder output NaN", lambda: decode_numpy(model, np.ones((3, 8), np.float32)),
                   NonFiniteError, "decoder returned NaN or inf for 3 of 3 latent vectors")


@pytest.mark.slow
def test_train_rebuilds_weights_from_checkpoint(copy_tiny, tmp_path):
    from conftest import TINY_TRAIN

    cache = tmp_path / "cache"
    copy_tiny(cache, skip=())   # never damage the shared fixture
    run = open_run("tiny", cache)
    z_before = np.load(run.path / "z.npy")
    w = run.path / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "core", "train", *TINY_TRAIN, "--cache-dir", str(cache)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    ok = p.returncode == 0 and "rebuilding" in p.stderr and "Traceback" not in p.stderr
    probes.check("train on a run with truncated weights", "handled" if ok else
                 ("silent" if p.returncode == 0 else "crash"), p.stderr)
    run = open_run("tiny", cache)
    run.load_model()
    np.testing.assert_allclose(np.load(run.path / "z.npy"), z_before, rtol=1e-5, atol=1e-6)
    rc, out, err, exc = probes.run_cli("sample", "tiny", "--out", tmp_path / "g.png", "--cache-dir", cache)
    probes.check("sample after the rebuild", "handled" if rc == 0 else "crash", err)


# -- item 4: files of a run that disagree --------------------------------------------------------
def _fewer_z_rows(run):
    atomic.save_npy(run.path / "z.npy", np.load(run.path / "z.npy")[:-5])


def _truncated_z(run):
    p = run.path / "z.npy"
    p.write_bytes(p.read_bytes()[:-100])


def _wrong_z_dim(run):
    atomic.save_npy(run.path / "z.npy", np.zeros((40, 9), np.float32))


def _float64_z(run):
    atomic.save_npy(run.path / "z.npy", np.zeros((40, 8), np.float64))


def _garbage_index(run):
    (run.path / "index.parquet").write_bytes(b"PAR1 not really")


def _fewer_images(run):
    p = Path(run.meta["data_path"]) / "images.npy"
    atomic.save_npy(p, np.load(p)[:30])


def _garbage_z(run):
    (run.path / "z.npy").write_bytes(os.urandom(500))


INCONSISTENT = {"z.npy fewer rows than index": (_fewer_z_rows, r"35 z-points but index.parquet has 40"),
                "z.npy truncated": (_truncated_z, r"z\.npy is broken: truncated"),
                "z.npy z_dim 9 vs config 8": (_wrong_z_dim, r"9 columns.*z_dim 8"),
                "z.npy float64": (_float64_z, r"not a float32"),
                "z.npy random bytes": (_garbage_z, r"z\.npy is broken"),
                "z.npy deleted from a done run": (lambda run: (run.path / "z.npy").unlink(),
                                                  r"z\.npy is broken: is missing although the run is done"),
                "index.parquet deleted": (lambda run: (run.path / "index.parquet").unlink(),
                                          r"index\.parquet is broken: is missing"),
                "index.parquet garbage": (_garbage_index, r"index\.parquet is broken"),
                "images.npy fewer rows": (_fewer_images, r"images\.npy is broken: has 30 images")}


@pytest.mark.parametrize("name", list(INCONSISTENT))
def test_inconsistent_artifacts_are_refused(run, tmp_path, name):
    damage, match = INCONSISTENT[name]
    damage(run)
    run = open_run("r", run.path.parents[1])
    probes.refused(f"open_run().z() with {name}", run.z, BrokenArtifactError, match)
    _sample(run, tmp_path, f"sample with {name}", match)
    probes.expect_refused(f"derive with {name}", "derive", "r", "--cache-dir", run.path.parents[1], match=match)


# -- item 11: a z.npy truncated in place under the server ---------------------------------------
SERVER = textwrap.dedent("""
    import os, sys, numpy as np
    from dashboard.state import resources
    from core.errors import BrokenArtifactError
    gen = resources.run_sampler("r", {cache!r})
    imgs = resources.images("r", {cache!r})
    z0 = float(np.asarray(gen.z).sum()); a0 = int(np.asarray(imgs[[0, 39]]).sum())
    for name in ({z!r}, {img!r}):          # another process truncates the files in place
        with open(name, "r+b") as f:
            f.truncate(200)
    assert float(np.asarray(gen.z).sum()) == z0            # touching every z-point page
    assert np.isfinite(gen.stats.center).all()
    try:
        imgs[[0, 39]]
        print("images still readable")
    except BrokenArtifactError as e:
        print("images:", e)
    print("server survived")
""")


def test_server_survives_truncated_files(run):
    cache = run.path.parents[1]
    code = SERVER.format(root=str(ROOT), cache=str(cache), z=str(run.path / "z.npy"),
                         img=str(Path(run.meta["data_path"]) / "images.npy"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    ok = p.returncode == 0 and "server survived" in p.stdout and "images: " in p.stdout
    probes.check("z.npy and images.npy truncated under the server",
                 "handled" if ok else ("crash" if p.returncode else "silent"),
                 f"rc={p.returncode}\n{p.stdout}\n{p.stderr[-2000:]}")
