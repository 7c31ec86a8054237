"""``python -m core quality RUN_ID``: FID, KID, precision/recall and face rate of every sampler
(at its defaults), of a fact sweep of box and pca_box, and of the reconstructions (RAE's REC),
against two references: the run's held-out real images and their reconstructions.

Each row is cached on its own (core.quality.table) as soon as it is done, so an interrupted
job resumes where it stopped; progress goes to ``derived/quality/status.json`` for the UI, a
tqdm bar to the terminal; an flock on ``derived/.quality.lock`` keeps it to one process a run.

Images: the references take the first ``n_ref`` of the held-out rows (shuffled by seed); REAL
and REC take the next ``n`` held-out rows (training rows fill in when too few), so neither
is scored against its own images.
"""
from __future__ import annotations

import os
import time

import numpy as np

from core.quality import table
from core.quality.table import GRID_N, REFERENCES, RowSpec
from core.store import atomic
from core.store.locks import exclusive
from core.store.runs import open_run

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def _split(sess, n: int, n_ref: int | None, seed: int, ref_cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference rows, REAL/REC rows) of z.npy: disjoint, held-out first."""
    held = np.random.default_rng(seed).permutation(sess.heldout_rows)
    if n_ref is None:
        n_ref = min(ref_cap, max(len(held) - n, len(held) // 2))
    ref, rest = held[:n_ref], held[n_ref:]
    if len(rest) < n:
        train = np.random.default_rng(seed + 1).permutation(sess.train_rows)
        rest = np.concatenate([rest, train[: n - len(rest)]])
    if len(ref) < 10:
        raise ValueError(f"run has only {len(ref)} held-out images for the reference; "
                         "quality needs a run with valid/test partitions")
    return ref, rest[:n]


def _images(sess, spec: RowSpec, n: int, seed: int, rows: np.ndarray):
    """(uint8 images [n, S, S, 3], z [n, d]) of one row."""
    if spec.sampler == "REAL":
        return np.asarray(sess.run.images()[np.sort(rows)]), np.asarray(sess.z[np.sort(rows)])
    if spec.sampler == "REC":
        # decoding the run's own z-points is the reconstruction (the encoder is deterministic), and
        # it also works for a run imported from z-points with only a decoder
        z = np.asarray(sess.z[np.sort(rows)], np.float32)
        return sess.decode(z), z
    z = sess.vectors(spec.sampler, n, seed=seed, **spec.params)
    return sess.decode(z), z


class _Progress:
    """Images through Inception so far -> status.json (at most twice a second) and tqdm."""

    def __init__(self, run, total: int, bar: bool):
        from tqdm import tqdm

        self.run, self.total, self.done, self.last, self.message = run, total, 0, 0.0, ""
        self.bar = tqdm(total=total, unit="img", desc="Inception features", disable=not bar)

    def report(self, state: str, message: str | None = None, **kw: object) -> None:
        self.message = message or self.message
        atomic.write_json(table.status_path(self.run), {
            "state": state, "message": self.message, "fraction": self.done / max(self.total, 1),
            "images_done": self.done, "images_total": self.total, "updated": time.time(),
            "pid": os.getpid(), **kw})

    def step(self, k: int) -> None:
        self.done += k
        self.bar.update(k)
        if time.time() - self.last > 0.5:
            self.last = time.time()
            self.report("running")


def quality_report(run_id: str, cache_dir: str | os.PathLike | None = None, *, n: int | None = None, n_ref: int | None = None,
                   seed: int = 0, device: str = "auto", rows: list[RowSpec] | None = None,
                   progress: bool = True) -> list[dict]:
    """Compute (or load) every row; returns the rows' records in order."""
    from core.quality import metrics
    from core.quality.inception import EXTRACTOR_ID, InceptionFeatures, default_n, pick_device
    from core.sampling.session import RunSampler

    run = open_run(run_id, cache_dir)
    dev = pick_device(device)
    n = n or default_n(dev)
    rows = rows or table.default_rows()
    with exclusive(run.paths.quality_lock, busy=f"the quality job of run {run_id} is already running"):
        sess = RunSampler(run, device="cpu")
        ref_rows, own_rows = _split(sess, n, n_ref, seed, 10_000 if dev.startswith("cuda") else 1000)
        out_dir = table.folder(run, EXTRACTOR_ID)
        # a missing or damaged cached row or reference (a kill, a bad disk) is computed again
        done = {s: table.load_record(out_dir, s.key(seed, n, EXTRACTOR_ID)) for s in rows}
        todo = [s for s in rows if done[s] is None]
        ref_keys = {r: f"{r}-n{len(ref_rows)}-s{seed}-{sess.stats.z_key}" for r in REFERENCES}
        ref_feats = {r: table.load_ref(out_dir / f"ref-{ref_keys[r]}.npz") for r in REFERENCES}
        missing = [r for r in REFERENCES if ref_feats[r] is None]
        pr = _Progress(run, n * len(todo) + len(ref_rows) * len(missing), progress)
        try:
            pr.report("running", f"loading Inception-v3 on {dev}")
            net = InceptionFeatures(dev)
            refs = {}
            for r in REFERENCES:
                p = out_dir / f"ref-{ref_keys[r]}.npz"
                feats = ref_feats[r]
                if feats is None:
                    pr.report("running", f"reference: held-out {r} images (N={len(ref_rows)})")
                    imgs, _ = _images(sess, RowSpec("REAL" if r == "real" else "REC"), len(ref_rows), seed, ref_rows)
                    feats = net.features(imgs, pr.step)
                    atomic.save_npz(p, feats=feats, rows=np.sort(ref_rows))
                refs[r] = (feats, metrics.FrechetReference(feats))
            records = []
            for i, spec in enumerate(rows):
                key = spec.key(seed, n, EXTRACTOR_ID)
                if done[spec] is not None:
                    records.append(done[spec])
                    continue
                pr.report("running", f"row {i + 1}/{len(rows)}: {spec.label} (N={n})")
                records.append(_row(sess, spec, n, seed, own_rows, net, refs, out_dir, key, pr.step))
            pr.report("done", f"{len(records)} rows at N={n}, references N={len(ref_rows)}")
            pr.bar.close()
            return records
        except BaseException as e:
            pr.report("failed", f"{type(e).__name__}: {e}")
            raise


def _row(sess, spec: RowSpec, n: int, seed: int, own_rows, net, refs, out_dir, key: str, step) -> dict:
    from core.quality import faces, metrics
    from core.quality.inception import EXTRACTOR_ID

    imgs, z = _images(sess, spec, n, seed, own_rows)
    feats = net.features(imgs, step)
    hit = faces.has_face(imgs)
    maha = sess.stats.mahalanobis(z)
    record = {"label": spec.label, "sampler": spec.sampler, "params": spec.params, "seed": seed,
              "n": len(imgs), "key": key, "extractor": EXTRACTOR_ID, "face_rate": float(hit.mean()),
              "mahalanobis_mean": float(maha.mean()), "metrics": {}, "created": time.time()}
    for r, (rf, frechet) in refs.items():
        km, ks = metrics.kid(rf, feats, subsets=50, subset_size=1000, seed=seed)
        p, rc = metrics.precision_recall(rf, feats, k=3)
        record["metrics"][r] = {"fid": frechet.fid(feats), "kid": km, "kid_std": ks, "precision": p,
                                "recall": rc, "n_ref": len(rf)}
    atomic.save_npz(out_dir / f"row-{key}.npz", feats=feats, has_face=hit, mahalanobis=maha,
                    grid=imgs[:GRID_N])
    atomic.write_json(out_dir / f"row-{key}.json", record)       # last: its presence means "done"
    return record


def format_table(records: list[dict]) -> str:
    """The printed leaderboard: one line per row, figures against both references."""
    head = (f"{'row':<22}{'N':>6}{'faces':>7}{'Maha':>7} | {'FID':>7}{'KID':>16}{'prec':>6}{'rec':>6}"
            f" | {'FID':>7}{'KID':>16}{'prec':>6}{'rec':>6}")
    nref = {r: next((x['metrics'][r]['n_ref'] for x in records if r in x['metrics']), 0) for r in REFERENCES}
    lines = [f"{'':<42} | vs held-out real (N_ref={nref['real']}){'':<9}| vs held-out reconstructions "
             f"(N_ref={nref['rec']})", head]
    for x in records:
        s = f"{x['label']:<22}{x['n']:>6}{x['face_rate']:>7.2f}{x['mahalanobis_mean']:>7.1f}"
        for r in REFERENCES:
            m = x["metrics"][r]
            s += (f" | {m['fid']:>7.1f}{m['kid']:>9.4f}±{m['kid_std']:<6.4f}"
                  f"{m['precision']:>6.2f}{m['recall']:>6.2f}")
        lines.append(s)
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``python -m core quality`` (core/cli.py registers it here)."""
    q = sub.add_parser("quality", help="FID, KID, precision/recall and face rate per sampler (cached, resumable)")
    q.add_argument("run_id")
    q.add_argument("--n", type=int, help="images per row (default 500 on CPU, 10,000 on CUDA)")
    q.add_argument("--n-ref", type=int, help="held-out images in each reference (default up to 1,000 / 10,000)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device", default="auto", help="auto, cpu, cuda")
    q.add_argument("--rows", help="only these samplers, comma-separated (REC, REAL, box, ...); default all + fact sweep")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.add_argument("--cache-dir")


def cmd(a: argparse.Namespace) -> int:
    rows = table.default_rows()
    if a.rows:
        want = set(a.rows.split(","))
        rows = [r for r in rows if r.sampler in want]
    records = quality_report(a.run_id, a.cache_dir, n=a.n, n_ref=a.n_ref, seed=a.seed, device=a.device,
                             rows=rows, progress=not a.quiet)
    print(format_table(records))
    return 0
