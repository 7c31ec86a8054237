"""Command line: ``python -m core {train,runs,sample}`` (the contract in DESIGN.md)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.config import (MAX_BATCH_SIZE, MAX_EPOCHS, MAX_IMAGE_SIZE, MAX_LR, MAX_SYNTHETIC_N, MAX_Z_DIM, RESIZE_FILTERS,
                         RunConfig)
from core.errors import AtlasError, BadInputError

MAX_SAMPLE_N = 1000     # a 1,000-face PNG is already ~12 MB at 64 px
MAX_COLS = 100
MAX_RECON_N = 100


def _parse_params(pairs: list[str]) -> dict:
    """``--param key=value`` pairs -> {key: number, bool or text}."""
    out = {}
    for kv in pairs:
        key, eq, value = kv.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise BadInputError(f"--param {kv!r} must look like KEY=VALUE, e.g. --param fact=1.5")
        out[key.strip()] = _parse_value(value.strip())
    return out


def _check_out(out: str, option: str = "--out", suffix: str = ".png") -> str:
    """An output file name, not a folder (``DIR/`` or an existing directory), whose folder can
    exist: checked before any work is done."""
    p = Path(out)
    if out.endswith(("/", "\\")) or p.is_dir():
        raise BadInputError(f"{option} {out!r} is a folder; give a file name, e.g. {option} {p / ('grid' + suffix)}")
    if p.suffix.lower() != suffix:
        raise BadInputError(f"{option} {out!r} must end in {suffix}")
    for parent in p.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise BadInputError(f"{option} {out!r}: {parent} is a file, not a folder")
            break
    return out


def _check_range(option: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise BadInputError(f"{option} must be between {lo} and {hi:,}, got {value:,}")


def _parse_value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Latent-space atlas for face autoencoders")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="prepare data, train an autoencoder, encode every image")
    t.add_argument("--config", metavar="FILE", help="the run configuration as JSON (a RunConfig, or a run's "
                   "config.json to resume it) instead of the options below")
    t.add_argument("--dataset", choices=["synthetic", "celeba", "folder"], default="synthetic")
    t.add_argument("--data-dir", help="CelebA root or image folder")
    t.add_argument("--image-size", type=int, default=64, help=f"pixels, a multiple of 16 up to {MAX_IMAGE_SIZE}")
    t.add_argument("--z-dim", type=int, default=256, help=f"latent dimensions, 1 to {MAX_Z_DIM}")
    t.add_argument("--widths", default="32,64,128,256", help="channels of the strided conv layers")
    t.add_argument("--no-batch-norm", action="store_true")
    t.add_argument("--epochs", type=int, default=10, help=f"1 to {MAX_EPOCHS:,}")
    t.add_argument("--batch-size", type=int, default=64, help=f"1 to {MAX_BATCH_SIZE:,}")
    t.add_argument("--lr", type=float, default=1e-3, help=f"learning rate, finite, in (0, {MAX_LR:g}]")
    t.add_argument("--loss", choices=["mse", "bce"], default="mse")
    t.add_argument("--limit", type=int, help="use only the first N images (N >= 1)")
    t.add_argument("--synthetic-n", type=int, default=10000, help=f"number of synthetic faces, 1 to {MAX_SYNTHETIC_N:,}")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    t.add_argument("--checkpoint-minutes", type=float, default=5.0,
                   help="also checkpoint within an epoch this often (0: after every batch), so a kill "
                        "loses minutes, not an epoch")
    t.add_argument("--run-id", help="a plain name: letters, digits, '-', '_', '.'; not starting with a dot")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--cache-dir")
    t.add_argument("--quiet", action="store_true", help="no progress bars")

    r = sub.add_parser("runs", help="list the runs in the cache")
    r.add_argument("--cache-dir")

    s = sub.add_parser("sample", help="generate latent vectors with a sampler and decode them to a PNG grid")
    s.add_argument("run_id")
    s.add_argument("--sampler", default="box")
    s.add_argument("--fact", type=float, help="width factor of box / pca_box")
    s.add_argument("--n", type=int, default=21, help=f"number of faces, 1 to {MAX_SAMPLE_N:,}")
    s.add_argument("--cols", type=int, default=7, help=f"faces per row, 1 to {MAX_COLS}")
    s.add_argument("--scale", type=int, default=1, help="enlarge the grid N times (sharp pixels), 1 to 16")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="any other sampler parameter, e.g. --param b=2.0 --param k=10")
    s.add_argument("--out", required=True, help="PNG file to write (a file name ending in .png)")
    s.add_argument("--save-z", help="also write the vectors as .npy")
    s.add_argument("--cache-dir")
    v = sub.add_parser("derive", help="statistics, UMAP and mixture of a run, cached in its derived/ folder")
    v.add_argument("run_id")
    v.add_argument("--cache-dir")

    _import_parser(sub)

    from core.jobs.quality import add_parser as add_quality_parser

    add_quality_parser(sub)

    c = sub.add_parser("recon", help="PNG of originals (top row) above their reconstructions (bottom row)")
    c.add_argument("run_id")
    c.add_argument("--partition", default="valid", help="train, valid, test or all")
    c.add_argument("--n", type=int, default=10, help=f"number of images, 1 to {MAX_RECON_N}")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", required=True, help="PNG file to write")
    c.add_argument("--cache-dir")
    return p


def _import_parser(sub: argparse._SubParsersAction) -> None:
    i = sub.add_parser("import", help="make a run from an autoencoder trained elsewhere (ONNX, TorchScript, "
                       "a PyTorch class + weights, or precomputed z-points)")
    m = i.add_argument_group("the model (ONNX and safetensors are data; TorchScript and classes are code)")
    m.add_argument("--encoder", help="encoder file: .onnx or TorchScript (.pt)")
    m.add_argument("--decoder", help="decoder file: .onnx or TorchScript (.pt); may be the encoder's file")
    m.add_argument("--model", help="a PyTorch class, package.module:ClassName (imported from --code-dir)")
    m.add_argument("--weights", help="its weights: .safetensors or a state_dict (loaded weights-only)")
    m.add_argument("--model-args", default="{}", help='constructor arguments as JSON, e.g. \'{"z_dim": 128}\'')
    m.add_argument("--code-dir", help="folder holding the class's package (default: current folder)")
    m.add_argument("--trust-code", action="store_true", help="allow a TorchScript file or a Python class to run "
                   "(they are code, run with your permissions); refused without it")
    m.add_argument("--encode-method", help="method or sub-module that encodes (class default: encode)")
    m.add_argument("--decode-method", help="method or sub-module that decodes (class default: decode)")
    m.add_argument("--encoder-output", help="which encoder output is the latent: index or name (VAE: the mean)")
    m.add_argument("--z-points", help="precomputed z-points .npy [N, d] instead of an encoder")
    m.add_argument("--z-ids", help="text file: image file name of each --z-points row (default: dataset order)")
    c = i.add_argument_group("what the model expects (ONNX inputs declare size and layout themselves)")
    c.add_argument("--image-size", type=int, help="input size in px (default: from the ONNX input, else 64)")
    c.add_argument("--channels", type=int, choices=[1, 3], help="3 = RGB, 1 = grey")
    c.add_argument("--layout", choices=["nchw", "nhwc"], help="channels first (PyTorch) or last (Keras); "
                   "default: from an ONNX input, else the one the model runs and reconstructs best on")
    c.add_argument("--value-range",
                   help="pixel values the model was trained on: 0,1 | -1,1 | 0,255 (write --value-range=-1,1); "
                        "default: the one under which the model reconstructs the probe batch best")
    c.add_argument("--resize", choices=RESIZE_FILTERS, default="lanczos",
                   help="Pillow filter that shrinks the images to the model's size: the one its training "
                        "data went through (default lanczos)")
    i.add_argument("--request", metavar="FILE", help="the whole import as JSON (external model and data; "
                   "what the dashboard hands over) instead of the options above and below")
    i.add_argument("--dataset", choices=["synthetic", "celeba", "folder"], default="synthetic")
    i.add_argument("--data-dir", help="CelebA root or image folder")
    i.add_argument("--limit", type=int, help="use only the first N images")
    i.add_argument("--synthetic-n", type=int, default=10000, help="number of synthetic faces")
    i.add_argument("--seed", type=int, default=0, help="synthetic faces and split seed")
    i.add_argument("--heldout", type=float, default=0.1, help="fraction of the images held out (seeded) for "
                   "quality and recon, where the source has no valid/test partition of its own (default 0.1)")
    i.add_argument("--device", default="cpu", help="cpu or cuda (onnxruntime-gpu / CUDA torch)")
    i.add_argument("--run-id")
    i.add_argument("--cache-dir")
    i.add_argument("--quiet", action="store_true", help="no progress bars")


def import_request(a: argparse.Namespace) -> tuple:
    """(ExternalConfig, DataConfig) of ``python -m core import`` arguments."""
    import json

    from core.config import DataConfig
    from core.errors import BadInputError
    from core.model.external import ExternalConfig

    try:
        args = json.loads(a.model_args or "{}")
    except json.JSONDecodeError as e:
        raise BadInputError(f"--model-args is not JSON ({e}): write e.g. '{{\"z_dim\": 128}}'") from e
    if not isinstance(args, dict):
        raise BadInputError("--model-args must be a JSON object of constructor arguments")
    ext = ExternalConfig(a.encoder, a.decoder, a.model, a.weights, args, a.code_dir, a.encode_method,
                         a.decode_method, a.encoder_output, a.z_points, a.z_ids, a.image_size, a.channels,
                         a.layout, a.value_range, a.device, a.trust_code)
    # the image size is the model's: filled in (and checked) by the import once the model is open
    data = DataConfig(a.dataset, a.data_dir, a.image_size or 64, a.limit, a.synthetic_n, a.seed,
                      val_fraction=a.heldout, resize=a.resize)
    return ext, data


def cmd_import(a: argparse.Namespace) -> int:
    from core.jobs.import_run import import_run

    if a.request:
        from core.jobs.import_run import load_request

        ext, data = load_request(a.request)
        if a.trust_code:
            import dataclasses

            ext = dataclasses.replace(ext, trust_code=True)
    else:
        ext, data = import_request(a)
    if ext.is_code():
        print("note: TorchScript files and Python classes are code; they run with your permissions",
              file=sys.stderr)
    run = import_run(ext, data, a.cache_dir, a.run_id, progress=not a.quiet)
    p = run.external["probe"]
    for note in (p.get("detected") or {}).get("notes", []):
        print(note, file=sys.stderr)
    print(f"imported {run.external['route']} model: {p['z_dim']} dims, {run.manifest().get('n_ok')} images"
          + (f", probe reconstruction MSE/pixel {p['recon_mse']:.5f}" if "recon_mse" in p else ", no decoder"),
          file=sys.stderr)
    print(run.run_id)
    return 0


def cmd_recon(a: argparse.Namespace) -> int:
    import numpy as np

    from core.store import atomic
    from core.model.grid import to_png
    from core.store.runs import open_run

    _check_range("--n", a.n, 1, MAX_RECON_N)
    _check_out(a.out)
    if a.partition not in ("train", "valid", "test", "all"):
        raise BadInputError(f"--partition must be train, valid, test or all, got {a.partition!r}")
    run = open_run(a.run_id, a.cache_dir)
    part = run.index()["partition"].to_numpy()
    rows = np.flatnonzero(part == a.partition) if a.partition != "all" else np.arange(len(part))
    if len(rows) == 0:
        raise BadInputError(f"run {a.run_id} has no {a.partition!r} images; try --partition all")
    rows = np.sort(np.random.default_rng(a.seed).choice(rows, min(a.n, len(rows)), replace=False))
    orig = np.asarray(run.images()[rows])
    # decoding the run's own z-points is the reconstruction (the encoder is deterministic), and
    # it also works for a run imported from z-points with only a decoder
    rec = run.codec().decode(np.asarray(run.z()[rows], np.float32))
    atomic.write_bytes(a.out, to_png(np.concatenate([orig, rec]), cols=len(rows), scale=2))
    mse = float(((orig / 255.0 - rec / 255.0) ** 2).mean())
    print(f"wrote {a.out}: {len(rows)} {a.partition} images (top) and reconstructions (bottom); "
          f"MSE/pixel {mse:.5f} (8-bit rounded)")
    return 0


CONFIG_OPTIONS = ("dataset", "data_dir", "image_size", "z_dim", "widths", "no_batch_norm", "epochs", "batch_size",
                  "lr", "loss", "limit", "synthetic_n", "device", "seed")


def config_from_args(a: argparse.Namespace) -> RunConfig:
    """The RunConfig of a parsed ``train`` command: its --config file, else its options."""
    from core.config import load_config, make_config
    from core.errors import BadInputError

    if a.config:
        defaults = build_parser().parse_args(["train"])
        given = [f"--{k.replace('_', '-')}" for k in CONFIG_OPTIONS if getattr(a, k) != getattr(defaults, k)]
        if given:
            raise BadInputError(f"--config gives the whole configuration; drop {', '.join(given)} "
                                "(or edit the JSON file)")
        return load_config(a.config)
    try:
        widths = tuple(int(w) for w in a.widths.split(","))
    except ValueError:
        raise BadInputError(f"--widths must be comma-separated integers, got {a.widths!r}") from None
    return make_config(dataset=a.dataset, data_dir=a.data_dir, image_size=a.image_size, z_dim=a.z_dim,
                       widths=widths, batch_norm=not a.no_batch_norm, epochs=a.epochs, batch_size=a.batch_size,
                       lr=a.lr, loss=a.loss, limit=a.limit, synthetic_n=a.synthetic_n, seed=a.seed,
                       device=a.device)


def _cmd_quality(a: argparse.Namespace) -> int:
    from core.jobs.quality import cmd

    return cmd(a)


def cmd_derive(a: argparse.Namespace) -> int:
    from core.jobs.derive import derive

    st = derive(a.run_id, a.cache_dir)
    print(f"{a.run_id}: {st['message']}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from core.jobs.train_run import train_run

    if not (0 <= a.checkpoint_minutes <= 24 * 60):
        raise BadInputError(f"--checkpoint-minutes must be between 0 and 1440, got {a.checkpoint_minutes}")
    cfg = config_from_args(a)
    run = train_run(cfg, a.cache_dir, a.run_id, progress=not a.quiet, checkpoint_every_s=60 * a.checkpoint_minutes)
    import os
    if int(os.environ.get("RANK", "0")) == 0:
        h = run.history()
        if h:
            print(f"final val MSE/pixel {h[-1]['val_loss']:.5f} after {len(h)} epochs", file=sys.stderr)
        print(run.run_id)
    return 0


def cmd_runs(a: argparse.Namespace) -> int:
    from core.store.runs import list_runs, runs_dir

    runs = list_runs(a.cache_dir)
    if not runs:
        print(f"no runs in {runs_dir(a.cache_dir)}")
        return 0
    cols = ["run_id", "state", "dataset", "model", "image_size", "z_dim", "epochs", "val_loss", "n_images", "created"]
    summaries = [r.summary() for r in runs]
    rows = [[("" if v is None else f"{v:.5f}" if isinstance(v, float) else str(v))
             for v in (s[c] for c in cols)] for s in summaries]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for row, s in zip(rows, summaries):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip()
              + (f"  ({s['problem']})" if s["problem"] else ""))
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    import numpy as np

    from core.store import atomic
    from core.sampling.session import RunSampler
    from core.model.grid import to_png
    from core.store.runs import open_run

    _check_range("--n", a.n, 1, MAX_SAMPLE_N)
    _check_range("--cols", a.cols, 1, MAX_COLS)
    _check_range("--scale", a.scale, 1, 16)
    _check_out(a.out)
    if a.save_z:
        _check_out(a.save_z, "--save-z", ".npy")
    params = _parse_params(a.param)
    if a.fact is not None:
        params["fact"] = a.fact
    gen = RunSampler(open_run(a.run_id, a.cache_dir))
    if not gen.model.has_decoder:
        from core.errors import NotReadyError

        raise NotReadyError(f"{gen.model.why_no_decoder}; `derive` and the dashboard's statistics pages work")
    batch = gen.batch(a.sampler, a.n, seed=a.seed, **params)
    atomic.write_bytes(a.out, to_png(batch.images, cols=a.cols, scale=a.scale))
    if a.save_z:
        atomic.save_npy(a.save_z, batch.z.astype(np.float32))
    d = batch.diagnostics
    print(f"wrote {a.out}: {a.n} faces from sampler {a.sampler!r} {params}; "
          f"mean Mahalanobis radius {d['sample_mahalanobis_mean']:.2f} (held-out real {d['real_mahalanobis_mean']:.2f}), "
          f"mean nearest-real distance {d['sample_nn_mean']:.3f} (held-out real {d['real_nn_mean']:.3f})")
    return 0


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        from core.store.paths import check_cache_dir

        check_cache_dir(a.cache_dir)        # every command has --cache-dir (or AE_CACHE_DIR)
        return {"train": cmd_train, "runs": cmd_runs, "sample": cmd_sample, "recon": cmd_recon, "derive": cmd_derive,
                "import": cmd_import, "quality": _cmd_quality}[a.cmd](a)
    except (AtlasError, ValueError, OSError, RuntimeError, KeyError, FloatingPointError) as e:
        # one line a person can act on; the message names the file or option and the repair
        if isinstance(e, OSError) and not isinstance(e, AtlasError) and e.filename:
            e = f"cannot use {e.filename}: {e.strerror}"
        print(f"error: {str(e).strip() or type(e).__name__}".replace("\n", " "), file=sys.stderr)
        return 2
