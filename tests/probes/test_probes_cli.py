"""Probes (issue 8, items 2, 5, 10, 12): run ids that are paths, nonsense sizes, missing
devices, malformed options, runs still training. Each must end in one ``error:`` line (exit 1
or 2, no traceback) and touch nothing outside the run store."""
from __future__ import annotations

import os

import pytest

from tests.probes import tally as probes
from core.errors import BadInputError, NotReadyError
from core.store import atomic
from core.store.locks import exclusive
from core.store.runs import open_run

TINY = ["--dataset", "synthetic", "--synthetic-n", "40", "--image-size", "32", "--widths", "4,8,8,16",
        "--z-dim", "8", "--epochs", "1", "--quiet"]


@pytest.fixture
def cache(tmp_path):
    probes.make_run(tmp_path / "cache", "r")
    return tmp_path / "cache"


# -- item 2: a run id is a plain name, never a path ----------------------------------------
BAD_IDS = ["../x", ".", "..", "a/b", ".hidden", "", "x" * 129, "sp ace", "semi;colon"]


@pytest.mark.parametrize("bad", BAD_IDS + ["ABS"])
def test_train_refuses_run_id_that_is_not_a_plain_name(tmp_path, bad):
    victim = tmp_path / "my_folder"
    victim.mkdir()
    (victim / "history.json").write_text("the user's own file")
    rid = str(victim) if bad == "ABS" else bad
    rc, out, err, exc = probes.run_cli("train", *TINY, "--run-id", rid, "--cache-dir", tmp_path / "cache")
    outcome = probes.classify_refusal(rc, err, exc, "run id")
    if (victim / "history.json").read_text() != "the user's own file" or sorted(os.listdir(victim)) != ["history.json"]:
        outcome = "lost"   # the user's folder was written into
    probes.check(f"train --run-id {bad!r}", outcome, f"rc={rc}\n{err}")
    written = [p for p in (tmp_path / "cache").rglob("*")] if (tmp_path / "cache").exists() else []
    assert not written, written  # nothing prepared, nothing written


@pytest.mark.parametrize("cmd", ["sample", "derive", "recon"])
@pytest.mark.parametrize("bad", ["../../other/runs/x", "/etc", "r/../r", ".r"])
def test_commands_refuse_path_run_ids(cache, tmp_path, cmd, bad):
    extra = {"sample": ["--out", tmp_path / "g.png"], "recon": ["--out", tmp_path / "g.png"], "derive": []}[cmd]
    probes.expect_refused(f"{cmd} {bad!r}", cmd, bad, *extra, "--cache-dir", cache, match="run id")
    assert not (tmp_path / "g.png").exists()


def test_open_run_and_listing_ignore_path_ids(cache):
    probes.refused("open_run('../cache/runs/r')", lambda: open_run("../cache/runs/r", cache), BadInputError, "run id")
    (cache / "runs" / ".junk").mkdir()
    (cache / "runs" / ".junk" / "config.json").write_text("{}")
    rc, out, err, exc = probes.run_cli("runs", "--cache-dir", cache)
    listed = [ln.split()[0] for ln in out.splitlines()[1:] if ln.strip()]
    probes.check("runs with a dot-folder in runs/", "handled" if rc == 0 and listed == ["r"] else "silent", out + err)


@pytest.mark.parametrize("bad", ["../x", "/tmp", ".", "a/b"])
def test_dashboard_launch_refuses_path_run_ids(tmp_path, bad):
    """What the New-run form and the Resume button call."""
    from core.config import make_config
    from core.jobs import launch

    cfg = make_config(image_size=32, z_dim=8, epochs=1, synthetic_n=40, widths=(4, 8, 8, 16))
    probes.refused(f"dashboard start_training({bad!r})", lambda: launch.start_training(bad, cfg, tmp_path),
                   BadInputError, "run id")
    probes.refused(f"dashboard resume_training({bad!r})", lambda: launch.resume_training(bad, tmp_path),
                   BadInputError, "run id")
    assert sorted(p.name for p in tmp_path.iterdir()) == []   # nothing launched, nothing written


# -- items 5 and 12: nonsense and oversized numbers --------------------------------------------
@pytest.mark.parametrize("args,match", [
    (["--epochs", "0"], "epochs"), (["--epochs", "-3"], "epochs"), (["--z-dim", "0"], "z_dim"),
    (["--z-dim", "-8"], "z_dim"), (["--batch-size", "0"], "batch"), (["--limit", "0"], "limit"),
    (["--limit", "-5"], "limit"), (["--synthetic-n", "0"], "synthetic"), (["--image-size", "-16"], "image"),
    (["--image-size", "4096"], "image_size.*512"), (["--z-dim", "100000"], "z_dim"),
    (["--synthetic-n", "100000000"], "synthetic"), (["--lr", "inf"], "learning rate"),
    (["--lr", "nan"], "learning rate"), (["--lr", "-1"], "learning rate"), (["--widths", "4,0,8,16"], "widths"),
    (["--checkpoint-minutes", "-1"], "checkpoint"),
])
def test_train_refuses_nonsense_numbers(tmp_path, args, match):
    base = list(TINY)
    if args[0] in base:  # drop the default pair of the option under test
        i = base.index(args[0])
        del base[i:i + 2]
    probes.expect_refused(f"train {' '.join(args)}", "train", *base, *args, "--run-id", "n",
                          "--cache-dir", tmp_path, match=match)
    assert not (tmp_path / "runs" / "n" / "status.json").exists()


def test_help_states_the_bounds(capsys):
    rc, out, _, _ = probes.run_cli("train", "--help")
    probes.check("train --help states bounds", "handled" if "512" in out and "10,000" in out else "silent", out)
    rc, out, _, _ = probes.run_cli("sample", "--help")
    probes.check("sample --help states bounds", "handled" if "1,000" in out else "silent", out)


@pytest.mark.parametrize("args,match", [
    (["--n", "100000"], "--n.*1,000"), (["--n", "0"], "--n"), (["--cols", "0"], "--cols"),
    (["--param", "fact"], "KEY=VALUE"), (["--param", "=3"], "KEY=VALUE"), (["--out", "DIR/"], "folder"),
    (["--out", "."], "folder"), (["--sampler", "nope"], r"unknown sampler 'nope' \(--sampler\); choose one of box, cube"),
    (["--fact", "nan"], r"fact must be a finite number > 0, got nan"), (["--fact", "-1"], "fact.*> 0"),
    (["--sampler", "gmm", "--param", "k=0"], r"'gmm' has no parameter k \(--param\); it takes no parameters"),
    (["--sampler", "box", "--param", "b=2"], r"no parameter b \(--param\); its parameters: fact \(default 1"),
    (["--sampler", "nudge", "--param", "base=zz"], r"unknown sampler 'zz' \(--param base\); choose one of"),
    (["--sampler", "nudge", "--param", "alpha=2"], r"alpha must be a finite number between 0 and 1"),
])
def test_sample_refuses_bad_options(cache, tmp_path, args, match):
    argv = ["sample", "r", "--cache-dir", cache, *args]
    if "--out" not in args:
        argv += ["--out", tmp_path / "g.png"]
    probes.expect_refused(f"sample {' '.join(args)}", *argv, match=match)
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("what", ["--out under a file", "--save-z DIR/", "--save-z not .npy"])
def test_sample_refuses_unwritable_outputs(cache, tmp_path, what):
    (tmp_path / "afile").write_text("a file, not a folder")
    args = {"--out under a file": ["--out", tmp_path / "afile" / "g.png"],
            "--save-z DIR/": ["--out", tmp_path / "g.png", "--save-z", f"{tmp_path}/"],
            "--save-z not .npy": ["--out", tmp_path / "g.png", "--save-z", tmp_path / "z.png"]}[what]
    probes.expect_refused(f"sample {what}", "sample", "r", *args, "--cache-dir", cache,
                          match="is a file|is a folder|must end in .npy")
    assert not (tmp_path / "g.png").exists()


def test_recon_refuses_bad_options(cache, tmp_path):
    probes.expect_refused("recon --n 100000", "recon", "r", "--n", "100000", "--out", tmp_path / "g.png",
                          "--cache-dir", cache, match="--n")
    probes.expect_refused("recon --partition bogus", "recon", "r", "--partition", "bogus", "--out",
                          tmp_path / "g.png", "--cache-dir", cache, match="partition")


# -- item 10: one error line each --------------------------------------------------------------
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda(tmp_path):
    probes.expect_refused("train --device cuda (no CUDA)", "train", *TINY, "--device", "cuda", "--run-id", "c",
                          "--cache-dir", tmp_path, match="CUDA is not available")
    probes.expect_refused("train --device gpu0", "train", *TINY, "--device", "gpu0", "--run-id", "c",
                          "--cache-dir", tmp_path, match="device")
    assert not (tmp_path / "data").exists()  # refused before any preprocessing


def test_nan_guard_is_one_line(tmp_path, monkeypatch):
    import torch

    from core.model.train import Trainer

    monkeypatch.setattr(Trainer, "_loss", lambda self, x: torch.tensor(float("nan"), requires_grad=True))
    probes.expect_refused("training loss becomes NaN", "train", *TINY, "--run-id", "nan", "--cache-dir",
                          tmp_path, match="loss became nan.*learning rate")


@pytest.mark.parametrize("cmd", ["sample", "derive", "recon"])
def test_commands_on_a_run_still_training(cache, tmp_path, cmd):
    run = open_run("r", cache)
    (run.path / "z.npy").unlink()
    (run.path / "weights.safetensors").unlink()
    atomic.write_json(run.path / "status.json", {"state": "training", "epoch": 3, "epochs": 10})
    extra = [] if cmd == "derive" else ["--out", tmp_path / "g.png"]
    with exclusive(run.path / ".lock"):     # a live training holds the run's lock
        probes.expect_refused(f"{cmd} on a run still training", cmd, "r", *extra, "--cache-dir", cache,
                              match="not complete.*training.*3/10")
        probes.refused(f"open_run().z() on a run still training ({cmd})", run.z, NotReadyError, "not complete")
    probes.expect_refused(f"{cmd} on a killed (interrupted) run", cmd, "r", *extra, "--cache-dir", cache,
                          match="not complete.*interrupted.*resume")
