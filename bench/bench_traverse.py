"""Main-axis traversal: server time for one slider move (new vector, decode, face image).

    python bench/bench_traverse.py RUN_ID [--cache-dir DIR] [--moves 60]

Budget: under 100 ms a move on 2 CPU cores (issue 11). The dashboard's Directions page does
``core.navigation.traverse.move_along_axes`` on the run's cached statistics, decodes one face
on one torch thread (state.resources.run_sampler sets that) and sends a JPEG (widgets.face_jpeg). A
notebook user would fit scikit-learn's PCA once, then per move ``inverse_transform`` the
edited coordinates, decode with torch's default threads and encode a PNG to show it.
"""
from __future__ import annotations

import argparse
import io
import time

import numpy as np


from core.navigation.traverse import move_along_axes
from core.sampling.session import RunSampler
from core.store.runs import open_run


def jpeg_face(img: np.ndarray) -> bytes:
    # the dashboard's own encoder (imported lazily: dashboard/ imports streamlit)
    from dashboard.ui.widgets import face_jpeg
    return face_jpeg(img, cols=1, face_px=160)[0]


def png_face(img: np.ndarray) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img[0]).resize((160, 160), Image.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


def stats_ms(times) -> str:
    t = 1000 * np.asarray(times)
    return f"{np.median(t):7.1f}  {np.percentile(t, 95):7.1f}"


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("run_id")
    ap.add_argument("--cache-dir")
    ap.add_argument("--moves", type=int, default=60)
    a = ap.parse_args()
    gen = RunSampler(open_run(a.run_id, a.cache_dir))
    s, z = gen.stats, np.asarray(gen.z)
    base = np.asarray(z[0], np.float64)
    rng = np.random.default_rng(0)
    moves = [{k: float(v) for k, v in enumerate(rng.choice(np.arange(-3, 3.25, 0.25), 6))} for _ in range(a.moves)]
    gen.decode(base[None])                                             # load the model once
    default_threads = torch.get_num_threads()

    torch.set_num_threads(1)                                           # as the dashboard server does
    ours = []
    for m in moves:
        t0 = time.perf_counter()
        v = move_along_axes(s, base, m)
        jpeg_face(gen.decode(v[None]))
        ours.append(time.perf_counter() - t0)

    from sklearn.decomposition import PCA
    t0 = time.perf_counter()
    pca = PCA(random_state=0).fit(z)
    fit_s = time.perf_counter() - t0
    sd = np.sqrt(pca.explained_variance_)
    nb = {}
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        nb[threads] = []
        for m in moves:
            t0 = time.perf_counter()
            y = pca.transform(base[None])
            for k, o in m.items():
                y[0, k] += o * sd[k]
            v = pca.inverse_transform(y)
            with torch.no_grad():
                img = gen.model.decode(torch.from_numpy(v.astype(np.float32)))
            png_face((img.clamp(0, 1) * 255).byte().permute(0, 2, 3, 1).numpy())
            nb[threads].append(time.perf_counter() - t0)

    print(f"run {a.run_id}: {len(z):,} z-points, d = {z.shape[1]}, image {gen.model.cfg.image_size} px; "
          f"{a.moves} slider moves of 6 main axes (torch threads: dashboard 1, notebook {default_threads})\n")
    print("what                                                               median ms   p95 ms")
    print(f"dashboard: move_along_axes + decode + JPEG, 1 torch thread          {stats_ms(ours)}")
    for threads, times in nb.items():
        print(f"notebook:  sklearn PCA inverse + decode + PNG, {threads} torch thread(s)    {stats_ms(times)}")
    print(f"\nnotebook one-off: sklearn PCA fit {1000 * fit_s:.0f} ms (the dashboard reuses the run's cached "
          f"statistics); budget 100 ms a move: {'met' if np.percentile(ours, 95) < 0.1 else 'MISSED'} (p95)")


if __name__ == "__main__":
    main()
