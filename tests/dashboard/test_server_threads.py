"""The dashboard server computes a slider move on one BLAS and one torch thread, so that the
decode (worker thread) and the neighbour search (main thread) each keep a core: OpenBLAS's
idle workers spin after a multi-threaded call and took the decode's core (a move cost the sum
of the two, 38 ms, instead of the longer one, 21 ms, at 200,000 z-points). Checked in a
subprocess: the limit is process-wide."""
from __future__ import annotations

import json
import subprocess
import sys

from core.store.paths import REPO_ROOT

ROOT = REPO_ROOT

SCRIPT = """
import json, sys, logging
logging.disable(logging.WARNING)           # st.cache_* outside `streamlit run` warns
from threadpoolctl import threadpool_info
from dashboard.state import resources
before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
gen = resources.run_sampler(sys.argv[1], sys.argv[2])
b = gen.batch("box", 21, seed=0, fact=1.0)
import torch
print(json.dumps({"before": before, "blas": [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"],
                  "torch": torch.get_num_threads(), "faces": len(b.images), "diag": len(b.diagnostics["sample_nn"])}))
"""


def test_server_decodes_and_searches_on_one_thread_each(tiny_run):
    r = subprocess.run([sys.executable, "-c", SCRIPT, tiny_run.run_id, str(tiny_run.path.parents[1])],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["before"] and max(out["before"]) == 2          # the default it starts from here
    assert out["blas"] and set(out["blas"]) == {1} and out["torch"] == 1
    assert out["faces"] == 21 and out["diag"] == 21
