"""Quality: which samplers decode into faces, as numbers. The leaderboard (REC, REAL and every
sampler: FID, KID ± spread, precision, recall against held-out real images and against their
reconstructions, face rate, Mahalanobis radius), FID against `fact` for box and pca_box with
the Gaussian and mixture samplers as lines, a face grid per row, and the background job
(``python -m core quality``) that computes them."""
from __future__ import annotations

import streamlit as st

from core import api
from core.errors import AtlasError
from dashboard.charts import quality as charts_quality
from dashboard.state import session
from dashboard.ui import widgets

REF_NAMES = {"real": "held-out real images", "rec": "held-out reconstructions"}


def _job(rid: str, paths: api.RunPaths) -> None:
    dev = api.inception_device()
    st_ = api.quality_state(paths)
    running = st_.get("state") == "running"
    c1, c2 = st.columns([1, 3])
    n = c1.number_input("images per row (N)", 20, 50_000, value=api.inception_default_n(dev), step=50, key="q_n",
                        disabled=running)
    c2.caption(f"Inception-v3 on **{dev}**: about 0.15 s an image on a 2-core CPU (so N = 500 for 20 rows "
               "plus two references is about half an hour), seconds on a GPU. Finished rows are cached; a "
               "new start computes only what is missing.")
    if c1.button("Compute quality (background)", disabled=running, key="q_start"):
        api.start_quality(rid, session.root(), n=int(n))
        st.rerun()
    _progress(paths)


@st.fragment(run_every=3)
@widgets.guarded
def _progress(paths: api.RunPaths) -> None:
    st_ = api.quality_state(paths)
    s = st_.get("state", "missing")
    if s == "running":
        done, total = st_.get("images_done", 0), st_.get("images_total", 0)
        st.progress(min(max(float(st_.get("fraction", 0.0)), 0.0), 1.0),
                    text=f"running: {st_.get('message', '')} ({done:,}/{total:,} images through Inception)")
    elif s in ("failed", "interrupted"):
        st.warning(f"quality job {s}: {st_.get('message', '')}; start it again to resume")
    elif s == "done":
        st.caption(f"last job: {st_.get('message', '')}")


def _leaderboard(rows: list[dict]) -> None:
    df = api.quality_table(rows)
    nref = {r: int(df[f"N_ref {r}"].iloc[0]) for r in api.QUALITY_REFERENCES if f"N_ref {r}" in df}
    for r in api.QUALITY_REFERENCES:
        if f"KID {r}" in df:
            df[f"KID {r}"] = [f"{m * 1e3:.1f} ± {s * 1e3:.1f}" for m, s in zip(df[f"KID {r}"], df.pop(f"KID {r} ±"))]
            df.pop(f"N_ref {r}")
    num = {c: st.column_config.NumberColumn(c, format="%.1f" if c.startswith(("FID", "Maha")) else "%.2f")
           for c in df.columns if df[c].dtype.kind == "f"}
    st.dataframe(df, hide_index=True, width="stretch", column_config=num)
    st.caption(f"Each row: N = {rows[0]['n']} images (seed {rows[0]['seed']}). References: "
               + "; ".join(f"{REF_NAMES[r]}, N_ref = {k}" for r, k in nref.items())
               + ". KID ×1000, mean ± spread over subsets. REC: reconstructions of held-out images not in "
               "the reference (RAE's row: the decoder's ceiling); REAL: held-out real images not in the "
               "reference, the metrics' floor at this N (FID is biased upward at small N, so compare rows at "
               "the same N, not with papers at N = 10,000). Precision: share of generated images inside the "
               "reference's k-NN manifold (k = 3), 'looks real'; recall: share of the reference inside the "
               "generated manifold, 'covers the variety'. Face rate: OpenCV Haar frontal-face detector.")


def _curve(rows: list[dict]) -> None:
    ref = st.radio("reference", list(api.QUALITY_REFERENCES), format_func=REF_NAMES.get, horizontal=True, key="q_ref")
    st.plotly_chart(charts_quality.fid_vs_fact(rows, ref), width="stretch")
    st.caption("The blog's question as a plot: does widening the box (`fact`) help, and does respecting "
               "correlations (pca_box, full_gauss) or the cloud's shape (gmm) beat it? Lines: samplers "
               "without a `fact`.")


def _grids(run, rows: list[dict]) -> None:
    with st.expander("faces of each row (first 7)", expanded=False):
        for r in rows:
            try:
                grid = api.quality_row_arrays(run, r["key"])["grid"][:7]
            except (AtlasError, KeyError) as e:     # said, never skipped in silence
                st.caption(f"{r['label']}: no faces to show ({e})")
                continue
            widgets.show_faces(grid, caption=f"{r['label']}: face rate {r['face_rate']:.2f}", cols=7, face_px=64)


@widgets.guarded
def render() -> None:
    run = widgets.open_page("Quality")
    if run is None:
        return
    paths = api.RunPaths.of(run.run_id, session.root())
    _job(run.run_id, paths)
    rows, damaged = api.quality_rows(run), api.quality_damaged_rows(run)
    if damaged:
        st.warning(f"{len(damaged)} cached quality rows are damaged and left out ({', '.join(damaged[:5])} in "
                   f"derived/quality/): start the job again to recompute them.")
    if not widgets.need(bool(rows), "No quality figures yet for this run: start the job above "
                        "(or `python -m core quality RUN_ID`)."):
        return
    sizes = sorted({r["n"] for r in rows}, reverse=True)
    n = st.selectbox("N per row", sizes, key="q_show_n") if len(sizes) > 1 else sizes[0]
    rows = [r for r in rows if r["n"] == n]
    order = {s.label: i for i, s in enumerate(api.quality_default_rows())}
    rows.sort(key=lambda r: order.get(r["label"], len(order)))
    _leaderboard(rows)
    _curve(rows)
    _grids(run, rows)


if __name__ == "__main__":
    render()
