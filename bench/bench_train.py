"""Training and encoding throughput (images/s) on the CelebA subset, next to a plain loop.

    python bench/bench_train.py [--data-dir ../shared/celeba] [--limit 2000] [--steps 30]

The "plain loop" is what a notebook does: NCHW tensors, float conversion per batch, no
prefetch. Ours is core.model.train.Trainer (channels_last on CPU, prefetching thread) and
core.model.encode.encode_to_npy (streaming into a memmap).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


from core.config import DataConfig, ModelConfig, TrainConfig
from core.data.prepare import prepare
from core.model.encode import encode_to_npy
from core.model.autoencoder import ConvAutoencoder
from core.model.train import Trainer


def plain_train(images: np.ndarray, cfg: ModelConfig, steps: int, bs: int) -> float:
    torch.manual_seed(0)
    m = ConvAutoencoder(cfg)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    rows = np.random.default_rng(0).permutation(len(images))
    t0, seen = time.perf_counter(), 0
    for s in range(steps):
        b = images[np.sort(rows[(s * bs) % len(rows):][:bs])]
        x = torch.from_numpy(b.copy()).permute(0, 3, 1, 2).float() / 255
        loss = ((m(x) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(b)
    return seen / (time.perf_counter() - t0)


def trainer_ips(images: np.ndarray, cfg: ModelConfig, steps: int, bs: int) -> float:
    rows = np.arange(min(len(images), steps * bs))
    t = Trainer(cfg, TrainConfig(epochs=1, batch_size=bs, device="cpu"), images, rows, np.arange(0))
    h = t.fit()
    return h[0]["images_per_s"]


def plain_encode(images: np.ndarray, m: ConvAutoencoder, bs: int = 512) -> float:
    t0, out = time.perf_counter(), []
    with torch.no_grad():
        for i in range(0, len(images), bs):
            x = torch.from_numpy(images[i:i + bs].copy()).permute(0, 3, 1, 2).float() / 255
            out.append(m.encode(x).numpy())
    np.concatenate(out)
    return len(images) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("CELEBA_DIR", "../shared/celeba"))
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        data = prepare(DataConfig("celeba", a.data_dir, 64, a.limit), Path(tmp), progress=False)
        prep = len(data.images) / (time.perf_counter() - t0)
        images = np.asarray(data.images)
        cfg = ModelConfig()
        rows = [("preprocess (decode+crop+resize, all cores)", prep, None)]
        rows.append(("train: plain NCHW loop", plain_train(images, cfg, a.steps, a.batch_size), None))
        rows.append(("train: core.model.train.Trainer", trainer_ips(images, cfg, a.steps, a.batch_size), rows[-1][1]))
        m = ConvAutoencoder(cfg).eval()
        rows.append(("encode: plain loop, to a list", plain_encode(images, m), None))
        t0 = time.perf_counter()
        encode_to_npy(m, images, Path(tmp) / "z.npy", recon_error=False)
        rows.append(("encode: encode_to_npy (streamed memmap)", len(images) / (time.perf_counter() - t0), rows[-1][1]))
        t0 = time.perf_counter()
        encode_to_npy(m, images, Path(tmp) / "z2.npy", recon_error=True)
        rows.append(("encode + per-image reconstruction error", len(images) / (time.perf_counter() - t0), None))
    print(f"CelebA subset, {len(images)} images 64x64, z_dim {cfg.z_dim}, widths {cfg.widths}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'step':46s} {'images/s':>10s} {'vs plain':>9s}")
    for name, ips, base in rows:
        print(f"{name:46s} {ips:10.0f} {(f'{ips / base:.2f}x' if base else ''):>9s}")


if __name__ == "__main__":
    main()
