"""Probes (issue 8, items 6, 7, 17): folders with symlink loops, dangling links and names that
are not UTF-8; CelebA label files with duplicate, malformed or no rows; CelebA subsets whose
held-out rows must be recorded. One bad entry is skipped and reported; the run goes on."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from tests import fakes
from tests.probes import tally as probes
from core.config import DataConfig
from core.data import prepare as prep_mod
from core.data.prepare import prepare


def _images(root: Path, n: int = 6) -> None:
    (root / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (40, 40), (30 * i, 100, 50)).save(root / ("sub" if i % 2 else ".") / f"img{i}.png")


def _bad_entry(root: Path, kind: str) -> str:
    """Add one bad entry; returns the text its report must contain."""
    if kind == "file symlink loop":
        os.symlink("loop_b.jpg", root / "loop_a.jpg")
        os.symlink("loop_a.jpg", root / "loop_b.jpg")
        return "symlink loop"
    if kind == "directory symlink loop":
        os.symlink("..", root / "sub" / "up")
        return "not followed"
    if kind == "dangling symlink":
        os.symlink("nowhere.jpg", root / "gone.jpg")
        return "dangling symlink"
    name = os.fsencode(str(root)) + b"/caf\xe9.png"          # Latin-1 bytes: not UTF-8
    Image.new("RGB", (40, 40), (1, 2, 3)).save(name.decode("utf-8", "surrogateescape"), "PNG")
    return "not valid UTF-8"


KINDS = ["file symlink loop", "directory symlink loop", "dangling symlink", "non-UTF-8 name"]


@pytest.mark.parametrize("kind", KINDS + ["all at once"])
def test_folder_skips_and_reports_the_bad_entry(tmp_path, kind):
    root = tmp_path / "faces"
    _images(root)
    wants = [_bad_entry(root, k) for k in (KINDS if kind == "all at once" else [kind])]
    try:
        data = prepare(DataConfig(dataset="folder", data_dir=str(root), image_size=32), tmp_path / "c",
                       progress=False, workers=1)
    except Exception as e:  # noqa: BLE001 - the old behaviour: the whole dataset fails
        probes.check(f"folder dataset with a {kind}", "crash", f"{type(e).__name__}: {e}")
        return
    reasons = " | ".join(f"{s['file']}: {s['reason']}" for s in data.manifest["skipped"])
    ok = data.manifest["n_ok"] == 6 and all(w in reasons for w in wants) and len(data.index) == 6
    probes.check(f"folder dataset with a {kind}", "handled" if ok else "silent", reasons)


def _celeba(root: Path) -> dict:
    return fakes.make_celeba(root, bad=False)


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines(keepends=True)


def _dup_attr(root):
    p = root / "list_attr_celeba.txt"
    lines = _lines(p)
    flipped = lines[2].replace(" -1", " +X").replace("  1", " -1").replace(" +X", "  1")  # same image, other values
    p.write_text("".join(lines + [flipped]))
    return [f"000001.jpg on lines 3, {len(lines) + 1}"]


def _dup_partition(root):
    p = root / "list_eval_partition.txt"
    lines = _lines(p)
    p.write_text("".join(lines + ["000002.jpg 2\n"]))
    return [f"lines 2, {len(lines) + 1}"]


def _short_attr_row(root):
    p = root / "list_attr_celeba.txt"
    lines = _lines(p)
    lines[4] = lines[4].split()[0] + " 1 -1\n"
    p.write_text("".join(lines))
    return ["line 5 has 3 fields"]


def _bad_attr_value(root):
    p = root / "list_attr_celeba.txt"
    lines = _lines(p)
    parts = lines[3].split()
    lines[3] = " ".join([parts[0], "2", *parts[2:]]) + "\n"
    p.write_text("".join(lines))
    return ["line 4 has values other than -1 and 1"]


def _empty_attr(root):
    (root / "list_attr_celeba.txt").write_text("")
    return ["list_attr_celeba.txt is empty"]


def _bad_partition_code(root):
    p = root / "list_eval_partition.txt"
    lines = _lines(p)
    lines[0] = lines[0].split()[0] + " 7\n"
    p.write_text("".join(lines))
    return ["line 1 has code 7"]


LABEL_FAULTS = {"duplicate attribute row": _dup_attr, "duplicate partition row": _dup_partition,
                "attribute row with too few fields": _short_attr_row, "attribute value 2": _bad_attr_value,
                "empty attribute file": _empty_attr, "partition code 7": _bad_partition_code}


@pytest.mark.parametrize("fault", list(LABEL_FAULTS))
def test_celeba_label_faults_are_reported_by_line(tmp_path, fault, monkeypatch):
    root = tmp_path / "celeba"
    expect = _celeba(root)
    wants = LABEL_FAULTS[fault](root)
    order = []
    real_map = prep_mod.decode.map_chunks
    monkeypatch.setattr(prep_mod.decode, "map_chunks", lambda *a, **k: (order.append("decode"), real_map(*a, **k))[1])
    if hasattr(prep_mod.sources, "parse_celeba_labels"):
        real_parse = prep_mod.sources.parse_celeba_labels
        monkeypatch.setattr(prep_mod.sources, "parse_celeba_labels",
                            lambda *a, **k: (order.append("labels"), real_parse(*a, **k))[1])
    try:
        with pytest.warns(UserWarning):
            data = prepare(DataConfig(dataset="celeba", data_dir=str(root), image_size=32), tmp_path / "c",
                           progress=False, workers=1)
    except Exception as e:  # noqa: BLE001
        probes.check(f"celeba {fault}", "crash", f"{type(e).__name__}: {e}")
        return
    notes = " | ".join(data.manifest["notes"])
    ok = all(w in notes for w in wants) and order[:1] == ["labels"] and data.manifest["n_ok"] == len(expect["good"])
    if fault == "duplicate attribute row":   # the first row wins
        row = data.index.set_index("image_id").loc["000001.jpg"]
        ok = ok and [int(row[a]) for a in fakes.CELEBA_ATTRS] == list(expect["attrs"]["000001.jpg"])
    probes.check(f"celeba {fault}", "handled" if ok else "silent", f"order={order} notes={notes}")


@pytest.mark.slow
def test_celeba_limit_records_held_out_rows(tmp_path):
    """Only training ids (1..30, partition 0): --limit 24 trains on a seeded 90% and holds out
    the rest; the index must say which, and `recon --partition valid` must work."""
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    for num in range(1, 31):
        (root / "img_align_celeba" / f"{num:06d}.jpg").write_bytes(fakes.celeba_jpeg(1))
    (root / "list_eval_partition.txt").write_text("".join(f"{n:06d}.jpg 0\n" for n in range(1, 31)))
    cache = tmp_path / "cache"
    rc, out, err, exc = probes.run_cli("train", "--dataset", "celeba", "--data-dir", root, "--limit", "24",
                                       "--image-size", "32", "--widths", "4,8,8,16", "--z-dim", "8",
                                       "--epochs", "1", "--batch-size", "8", "--run-id", "cl",
                                       "--cache-dir", cache, "--quiet")
    assert rc == 0 and exc is None, err
    from core.store.runs import open_run

    part = open_run("cl", cache).index()["partition"].to_numpy()
    ok = len(part) == 24 and (part == "valid").sum() == 2 and (part == "train").sum() == 22
    probes.check("celeba --limit: held-out rows recorded", "handled" if ok else "silent", str(part))
    rc, out, err, exc = probes.run_cli("recon", "cl", "--partition", "valid", "--n", "2",
                                       "--out", tmp_path / "r.png", "--cache-dir", cache)
    probes.check("recon --partition valid on a --limit run", "handled" if rc == 0 else "silent", err)
    assert Image.open(tmp_path / "r.png").size[0] > 2 * 32
