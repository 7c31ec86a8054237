"""Overview: what the run is (data, model, training), how well it learned, what it reconstructs."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.errors import AtlasError
from dashboard.charts import stats as charts
from dashboard.state import resources, session
from dashboard.ui import widgets


def _summary(run) -> None:
    cfg, man, hist = run.config, run.manifest(), run.history()
    c = st.columns(6)
    c[0].metric("dataset", cfg.data.dataset)
    c[1].metric("images", f"{man.get('n_ok', 0):,}", help=f"{man.get('n_found', 0):,} found, "
                f"{man.get('n_skipped', 0):,} skipped")
    c[2].metric("image size", f"{cfg.model.image_size} px")
    c[3].metric("z_dim", cfg.model.z_dim)
    if run.external:
        _imported_metrics(run, c[4:])
    else:
        c[4].metric("epochs", len(hist))
        c[5].metric("val. loss", f"{hist[-1]['val_loss']:.5f}" if hist else "–",
                    help="mean squared error per pixel (values in [0, 1]) on the validation split")
    with st.expander("configuration and dataset manifest"):
        a, b = st.columns(2)
        a.markdown("**run configuration**")
        a.json(cfg.to_dict() if not run.external else {"data": cfg.data.to_dict(), "model": run.external["spec"]},
               expanded=False)
        b.markdown("**dataset**")
        b.json({k: v for k, v in man.items() if k not in ("skipped", "attribute_columns")}, expanded=False)
        if man.get("skipped"):
            st.markdown(f"**skipped files** ({man.get('n_skipped')}; first {len(man['skipped'])} listed)")
            st.dataframe(man["skipped"], hide_index=True)


def _imported_metrics(run, cols) -> None:
    ext = run.external
    cols[0].metric("imported model", ext["route"], help="trained elsewhere: "
                   + ", ".join(f"{k} {v['path']}" for k, v in ext.get("sources", {}).items()))
    idx = run.index()
    held = idx["partition"].to_numpy() != "train"
    err = idx["recon_mse"].to_numpy()[held] if "recon_mse" in idx and held.any() else None
    cols[1].metric("held-out MSE", f"{err.mean():.5f}" if err is not None else "–",
                   help="mean squared reconstruction error per pixel (values in [0, 1]) of the held-out images, "
                   "computed at import")


def imported_model(run) -> None:
    """What was imported and how its inputs are read: the conventions the probe checked."""
    ext, spec = run.external, run.external["spec"]
    colour = "RGB" if spec["channels"] == 3 else "grey"
    st.markdown(f"**Imported model** ({ext['route']}{', code' if ext.get('is_code') else ''}): "
                f"{spec['image_size']} px {colour}, channels {'first' if spec['layout'] == 'nchw' else 'last'}, "
                f"values in [{spec['value_range'].replace(',', ', ')}], {ext['z_dim']} latent dimensions; "
                f"latent = the encoder's {ext['probe'].get('encoder_output', 'given z-points')}"
                + ("" if ext.get("has_decoder") else "; no decoder: pages that decode say so"))
    with st.expander("model files and the probe batch"):
        a, b = st.columns(2)
        a.markdown("**files** (copied into the run; SHA-256 of the originals)")
        a.json(ext.get("sources", {}), expanded=False)
        b.markdown("**probe** (one batch, before encoding the dataset)")
        b.json(ext.get("probe", {}), expanded=False)


def _recon(run, rid: str, root: str) -> None:
    idx = resources.index(rid, root)
    held = np.flatnonzero(idx["partition"].to_numpy() != "train")
    pool = held if len(held) >= 7 else np.arange(len(idx))
    c1, c2 = st.columns([1, 3])
    seed = c1.number_input("sample seed", 0, 10_000, 0, key="ov_seed",
                           help="which held-out images are shown")
    rows = tuple(int(r) for r in np.sort(np.random.default_rng(int(seed)).choice(pool, min(7, len(pool)),
                                                                                 replace=False)))
    if not resources.run_sampler(rid, root).model.has_decoder:
        widgets.show_faces(np.asarray(resources.images(rid, root)[list(rows)]), cols=len(rows),
                           caption="originals only: this run was imported without a decoder")
        return
    try:
        orig, rec = resources.reconstructions(rid, root, rows)
    except AtlasError as e:     # a broken decoder or file is an error, a missing one a note
        widgets.show_error(e)
        return
    mse = idx["recon_mse"].to_numpy()[list(rows)]
    c2.caption("Top row: original images (held-out split); bottom row: the autoencoder's "
               "reconstruction decoded from each image's z-point. Per-image MSE: "
               + ", ".join(f"{m:.4f}" for m in mse))
    widgets.show_faces(np.concatenate([orig, rec]), caption=f"originals (top) and reconstructions "
                       f"(bottom), z-point rows {', '.join(map(str, rows))}", cols=len(rows))


@widgets.guarded
def render() -> None:
    run = widgets.open_page("Overview")
    if run is None:
        return
    rid, root = run.run_id, session.root()
    _summary(run)
    if run.external:
        imported_model(run)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Loss curves")
        hist = run.history()
        why = ("This model was trained elsewhere and imported: its training history is not known."
               if run.external else "This run has no training history (trained for 0 epochs?).")
        if widgets.need(bool(hist), why):
            st.plotly_chart(charts.loss_curves(hist), width="stretch")
            st.caption("Reconstruction loss per epoch on a log scale; a validation curve above and "
                       "rising away from the training curve means overfitting.")
    with right:
        st.subheader("Reconstruction error")
        idx = resources.index(rid, root)
        if widgets.need("recon_mse" in idx, "No reconstruction errors: this run has no decoder."):
            err = idx["recon_mse"].to_numpy()
            st.plotly_chart(charts.error_hist(err), width="stretch")
            st.caption(f"Distribution of per-image reconstruction errors over all {len(err):,} images; "
                       f"median {np.median(err):.4f}.")
    st.subheader("Originals and reconstructions")
    _recon(run, rid, root)


if __name__ == "__main__":
    render()
