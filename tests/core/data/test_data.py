"""core.data.prepare / core.data.sources / core.data.image_files: discovery, labels, decoding, skipping, cache."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import image_files as decode
from core.config import DataConfig
from core.data.prepare import dataset_key, prepare
from tests import fakes


def _prep(cfg: DataConfig, cache: Path, **kw):
    kw.setdefault("workers", 1)
    return prepare(cfg, cache, progress=False, **kw)


def _celeba_cfg(root: Path, **kw) -> DataConfig:
    return DataConfig(dataset="celeba", data_dir=str(root), **kw)


@pytest.fixture
def celeba_layout_dir(tmp_path) -> tuple[Path, dict]:
    """Official CelebA layout: 20 good 178x218 JPEGs, 4 bad files, attr/partition/identity lists."""
    root = tmp_path / "celeba_src"
    return root, fakes.make_celeba(root)


@pytest.fixture
def celeba_prepared(celeba_layout_dir, tmp_path):
    root, expect = celeba_layout_dir
    with pytest.warns(UserWarning, match=r"skipped 4 of 24"):
        prep = _prep(_celeba_cfg(root), tmp_path / "cache")
    return prep, expect


def test_celeba_images_labels_and_skips(celeba_prepared):
    prep, expect = celeba_prepared
    n = len(fakes.GOOD_IDS)
    assert prep.images.shape == (n, 64, 64, 3) and prep.images.dtype == np.uint8
    assert isinstance(prep.images, np.memmap) and not prep.images.flags.writeable
    idx = prep.index
    assert list(idx.columns) == ["image_id", "path", "partition", *fakes.CELEBA_ATTRS, "identity"]
    assert idx["image_id"].tolist() == expect["good"]  # sorted by id, bad files dropped
    assert all(Path(p).is_file() for p in idx["path"])
    got = idx[fakes.CELEBA_ATTRS].to_numpy()
    assert set(np.unique(got)) <= {0, 1}
    np.testing.assert_array_equal(got, np.stack([expect["attrs"][i] for i in idx["image_id"]]))
    assert idx["identity"].tolist() == [expect["identity"][i] for i in idx["image_id"]]
    # the partition file (not the id ranges) decides
    codes = {0: "train", 1: "valid", 2: "test"}
    assert idx["partition"].tolist() == [codes[fakes.file_partition(int(i[:6]))] for i in idx["image_id"]]
    m = prep.manifest
    assert (m["n_found"], m["n_ok"], m["n_skipped"]) == (24, n, 4)
    reasons = {s["file"]: s["reason"] for s in m["skipped"]}
    assert set(reasons) == set(fakes.BAD_FILES)
    assert reasons["000101.jpg"].startswith("empty")
    assert reasons["000102.jpg"].startswith("truncated")
    assert reasons["000103.jpg"].startswith("not an image")
    assert reasons["000100.jpg"].startswith("corrupt")
    assert m["skipped_counts"] == {"corrupt": 1, "empty": 1, "truncated": 1, "not an image": 1}
    assert "left=15, top=40" in m["crop"] and m["image_size"] == 64 and m["n_ignored"] == 1


def test_celeba_crop_and_row_alignment(celeba_prepared):
    """Crop = the red face box (no blue border), and row k shows image k's own green mark."""
    prep, _ = celeba_prepared
    centre = prep.images[:, 8:-8, 8:-8].astype(int).mean(axis=(1, 2))   # [N, 3]
    assert np.all(np.abs(centre[:, 0] - 200) < 10) and np.all(centre[:, 2] < 60)
    border = prep.images[:, [0, -1]].astype(int).mean(axis=(1, 2))
    assert np.all(border[:, 2] < 90), "the crop box lets the blue background in"
    want = [fakes.green_of(int(i[:6])) for i in prep.index["image_id"]]
    np.testing.assert_allclose(centre[:, 1], want, atol=6)


def test_missing_partition_file_uses_official_ranges(tmp_path):
    root = tmp_path / "src"
    fakes.make_celeba(root, partition=False, bad=False)
    with pytest.warns(UserWarning, match="list_eval_partition"):
        prep = _prep(_celeba_cfg(root), tmp_path / "cache")
    part = dict(zip(prep.index["image_id"], prep.index["partition"]))
    assert part["000001.jpg"] == "train" and part["162771.jpg"] == "valid" and part["182643.jpg"] == "test"
    assert prep.index["partition"].value_counts().to_dict() == {"train": 8, "valid": 6, "test": 6}


def test_missing_attr_file_gives_no_attribute_columns(tmp_path):
    root = tmp_path / "src"
    fakes.make_celeba(root, attrs=False, identity=False, bad=False)
    with pytest.warns(UserWarning, match="list_attr_celeba"):
        prep = _prep(_celeba_cfg(root), tmp_path / "cache")
    assert list(prep.index.columns) == ["image_id", "path", "partition"]


@pytest.mark.parametrize("layout", ["torchvision", "image-folder"])
def test_celeba_other_layouts(tmp_path, layout):
    root = tmp_path / "src"
    expect = fakes.make_celeba(root, layout="torchvision" if layout == "torchvision" else "official", bad=False)
    data_dir = root / "img_align_celeba" if layout == "image-folder" else root
    prep = _prep(_celeba_cfg(data_dir), tmp_path / "cache")
    assert prep.index["image_id"].tolist() == expect["good"]
    assert len(prep.index.columns) == 3 + 40 + 1
    assert prep.manifest["layout"] == layout


def test_folder_source_modes_and_formats(tmp_path):
    root = tmp_path / "photos"
    expect = fakes.make_image_folder(root)
    with pytest.warns(UserWarning, match="skipped 1 of"):
        prep = _prep(DataConfig(dataset="folder", data_dir=str(root), image_size=32), tmp_path / "cache")
    ids = prep.index["image_id"].tolist()
    assert ids == sorted(expect) and prep.images.shape == (len(expect), 32, 32, 3)
    for row, image_id in enumerate(ids):
        mean = prep.images[row].reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(mean, fakes.KIND_RGB[expect[image_id]], atol=12, err_msg=image_id)
    assert [s["file"] for s in prep.manifest["skipped"]] == ["fake.jpg"]
    assert prep.manifest["skipped"][0]["reason"].startswith("not an image")
    assert prep.manifest["n_ignored"] == 2  # notes.txt, .hidden.jpg
    assert "white" in prep.manifest["crop"]
    # seeded split: exact count, reproducible, depends on the seed
    n_val = int(round(0.1 * len(ids)))
    assert (prep.index["partition"] == "valid").sum() == max(n_val, 1)


def test_seeded_split_changes_without_redecoding(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    fakes.make_image_folder(root)
    cfg = DataConfig(dataset="folder", data_dir=str(root), image_size=16, val_fraction=0.3)
    with pytest.warns(UserWarning):
        first = _prep(cfg, tmp_path / "cache")
    monkeypatch.setattr(decode, "decode_chunk", _must_not_decode)
    other = _prep(DataConfig(**{**cfg.to_dict(), "val_fraction": 0.5, "seed": 3}), tmp_path / "cache")
    assert other.path == first.path and other.manifest["created"] == first.manifest["created"]
    assert (other.index["partition"] == "valid").sum() == 5 != (first.index["partition"] == "valid").sum()


def _must_not_decode(*a, **k):
    raise AssertionError("a cache hit must not decode images")


def test_cache_reuse_and_invalidation(celeba_layout_dir, tmp_path, monkeypatch):
    root, _ = celeba_layout_dir
    cache, cfg = tmp_path / "cache", _celeba_cfg(root)
    with pytest.warns(UserWarning):
        first = _prep(cfg, cache)
    real_decode = decode.decode_chunk
    monkeypatch.setattr(decode, "decode_chunk", _must_not_decode)
    again = _prep(cfg, cache)
    assert again.path == first.path and again.manifest["created"] == first.manifest["created"]
    np.testing.assert_array_equal(again.images, first.images)
    pd.testing.assert_frame_equal(again.index, first.index)
    assert dataset_key(cfg) == first.path.name
    # anything that changes the pixels or the file list gives a new key (and decodes again)
    monkeypatch.setattr(decode, "decode_chunk", real_decode)
    keys = {first.path.name}
    img_dir = root / "img_align_celeba"
    for change in ("size", "limit", "add", "modify", "remove"):
        if change == "add":
            (img_dir / "000009.jpg").write_bytes(fakes.celeba_jpeg(9))
        elif change == "modify":  # same name; new bytes and a clearly later mtime
            (img_dir / "000001.jpg").write_bytes(fakes.celeba_jpeg(2))
            st = (img_dir / "000001.jpg").stat()
            os.utime(img_dir / "000001.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))
        elif change == "remove":
            (img_dir / "000003.jpg").unlink()
        c = {"size": _celeba_cfg(root, image_size=32), "limit": _celeba_cfg(root, limit=5)}.get(change, cfg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the bad files are reported again on each rebuild
            prep = _prep(c, cache)
        assert prep.path.name not in keys, change
        keys.add(prep.path.name)
        if change == "limit":
            assert prep.index["image_id"].tolist() == [f"{i:06d}.jpg" for i in range(1, 6)]
        if change == "size":
            assert prep.images.shape[1:] == (32, 32, 3)
    assert len(list((cache / "data").iterdir())) == 6


def _truncate(p: Path):
    with open(p, "r+b") as f:
        f.truncate(p.stat().st_size // 2)


BREAKAGES = {
    "images_truncated": lambda d: _truncate(d / "images.npy"),
    "images_wrong_shape": lambda d: np.save(d / "images.npy", np.zeros((3, 64, 64, 3), np.uint8)),
    "manifest_unreadable": lambda d: (d / "manifest.json").write_text("{not json"),
    "index_missing": lambda d: (d / "index.parquet").unlink(),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_cache_is_rebuilt(tmp_path, breakage):
    root = tmp_path / "src"
    fakes.make_celeba(root, bad=False)
    cfg, cache = _celeba_cfg(root), tmp_path / "cache"
    first = _prep(cfg, cache)
    del first.images  # release the memmap before breaking the file under it
    BREAKAGES[breakage](first.path)
    with pytest.warns(UserWarning, match="broken"):
        again = _prep(cfg, cache)
    assert again.path == first.path and again.manifest["created"] != first.manifest["created"]
    assert again.images.shape == (20, 64, 64, 3)
    assert json.loads((again.path / "manifest.json").read_text())["n_ok"] == 20


def test_empty_sources_raise_naming_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match="nowhere"):
        _prep(DataConfig(dataset="folder", data_dir=str(missing)), tmp_path / "c")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no images.*empty"):
        _prep(DataConfig(dataset="folder", data_dir=str(tmp_path / "empty")), tmp_path / "c")
    with pytest.raises(ValueError, match="img_align_celeba.*empty"):
        _prep(_celeba_cfg(tmp_path / "empty"), tmp_path / "c")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"limit.* 0"):
        _prep(DataConfig(dataset="folder", data_dir=str(tmp_path / "bad"), limit=0), tmp_path / "c")
    with pytest.raises(ValueError, match="none of the 1"):
        _prep(DataConfig(dataset="folder", data_dir=str(tmp_path / "bad")), tmp_path / "c")
    assert not list((tmp_path / "c" / "data").glob("*/manifest.json"))  # nothing cached as complete


@pytest.mark.parametrize("size", [96, 128])
def test_larger_image_sizes(tmp_path, size):
    root = tmp_path / "src"
    fakes.make_celeba(root, bad=False)
    prep = _prep(_celeba_cfg(root, image_size=size, limit=4), tmp_path / "cache")
    assert prep.images.shape == (4, size, size, 3)
    assert abs(prep.images[:, size // 2, size // 2, 0].astype(int) - 200).max() < 10


def test_celeba_crop_scales_with_image_size():
    assert decode.crop_box(178, 218, "celeba") == (15, 40, 163, 188)
    left, top, right, bottom = decode.crop_box(356, 436, "celeba")
    assert (left, top, right - left, bottom - top) == (30, 80, 296, 296)
    assert decode.crop_box(300, 200, "center") == (50, 0, 250, 200)


@pytest.mark.slow
def test_parallel_matches_serial(celeba_layout_dir, tmp_path):
    root, _ = celeba_layout_dir
    with pytest.warns(UserWarning):
        one = _prep(_celeba_cfg(root), tmp_path / "c1", workers=1)
    with pytest.warns(UserWarning) as caught:
        two = _prep(_celeba_cfg(root), tmp_path / "c2", workers=2)
    assert not [w for w in caught if "failed to start" in str(w.message)], "the pool never ran"
    np.testing.assert_array_equal(one.images, two.images)
    pd.testing.assert_frame_equal(one.index, two.index)
    assert one.manifest["skipped"] == two.manifest["skipped"]


def test_synthetic_source(tmp_path):
    synthetic = pytest.importorskip("core.data.synthetic", reason="core.data.synthetic (procedural faces) not available")
    cache = tmp_path / "cache"
    full = _prep(DataConfig(dataset="synthetic", synthetic_n=40, image_size=32, seed=1), cache)
    assert full.images.shape == (40, 32, 32, 3)
    assert list(full.index.columns[:3]) == ["image_id", "path", "partition"]
    assert set(synthetic.FACTOR_COLUMNS) <= set(full.index.columns)
    assert (full.index["path"] == "").all()
    assert full.index["partition"].value_counts().to_dict() == {"train": 36, "valid": 4}
    part = _prep(DataConfig(dataset="synthetic", synthetic_n=40, image_size=32, seed=1, limit=10), cache)
    assert part.path != full.path
    np.testing.assert_array_equal(part.images, full.images[:10])  # image i depends only on (seed, i)
    other = _prep(DataConfig(dataset="synthetic", synthetic_n=10, image_size=32, seed=2), cache)
    assert not np.array_equal(other.images, part.images)


def _celeba_dir() -> Path:
    celeba = os.environ.get("CELEBA_DIR")
    if not celeba or not Path(celeba).is_dir():
        pytest.skip("set CELEBA_DIR to a CelebA folder (official layout) to run this test")
    return Path(celeba)


def test_real_celeba_subset(tmp_path):
    celeba = _celeba_dir()
    prep = prepare(_celeba_cfg(Path(celeba), limit=300), tmp_path / "cache", progress=False)
    attrs = [c for c in prep.index.columns if c not in ("image_id", "path", "partition", "identity")]
    assert len(attrs) == 40 and prep.images.shape == (300, 64, 64, 3)
    assert set(np.unique(prep.index[attrs].to_numpy())) <= {0, 1}
    listed = pd.read_csv(Path(celeba) / "list_eval_partition.txt", sep=r"\s+", header=None,
                         names=["image_id", "code"], dtype={"image_id": str}).set_index("image_id")["code"]
    want = listed.reindex(prep.index["image_id"]).map({0: "train", 1: "valid", 2: "test"}).tolist()
    assert prep.index["partition"].tolist() == want
    assert prep.images.std() > 20  # real faces, not blank rows


@pytest.mark.slow
def test_real_celeba_all_partitions(tmp_path):
    """The whole shared subset: every image decodes, the three official partitions are there."""
    celeba = _celeba_dir()
    prep = prepare(_celeba_cfg(celeba), tmp_path / "cache", progress=False)
    counts = prep.index["partition"].value_counts().to_dict()
    n_listed = sum(1 for _ in open(celeba / "list_eval_partition.txt"))
    assert prep.manifest["n_skipped"] == 0 and len(prep.images) == n_listed
    assert set(counts) == {"train", "valid", "test"}
