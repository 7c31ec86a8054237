"""Sidebar: "Import a model": an autoencoder trained elsewhere becomes a run, imported by
``python -m core import --request FILE`` in the background (api.start_import),
with its progress here; the same options as the command line (README, "Bring your own model")."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import api
from core.errors import AtlasError
from dashboard.state import session

ROUTES = {"onnx": "ONNX files (also Keras / TensorFlow via tf2onnx)", "torchscript": "TorchScript file(s)",
          "class": "PyTorch class + weights", "z_points": "precomputed z-points (.npy)"}
SAFETY = {
    "onnx": ("info", "ONNX files are data: importing them runs none of their author's code."),
    "torchscript": ("warning", "TorchScript files are **code**: importing runs the program inside them with "
                               "your permissions. Import only files you trust."),
    "class": ("warning", "A Python class is **code**: its module is imported and run with your permissions. "
                         "The weights are data (safetensors, or a state_dict read weights-only; never a pickle)."),
    "z_points": ("info", "z-points are data (read without unpickling). A TorchScript decoder would be code."),
}
DATASETS = {"synthetic": "synthetic faces (built in)", "celeba": "CelebA folder", "folder": "image folder"}


def _path(text: str) -> str | None:
    return str(Path(text.strip()).expanduser()) if text and text.strip() else None


def _model_fields(route: str) -> dict:
    """The route's own inputs; every one maps onto an ExternalConfig field."""
    f: dict = {}
    if route in ("onnx", "torchscript"):
        ext = "onnx" if route == "onnx" else "pt"
        f["encoder"] = _path(st.text_input("Encoder file", key="imp_encoder", placeholder=f"/models/enc.{ext}"))
        f["decoder"] = _path(st.text_input("Decoder file (optional; may be the encoder's file)", key="imp_decoder"))
    if route == "class":
        f["model"] = st.text_input("Class", key="imp_class", placeholder="package.module:ClassName").strip() or None
        f["code_dir"] = _path(st.text_input("Folder holding its package", key="imp_code_dir"))
        f["weights"] = _path(st.text_input("Weights (.safetensors or a state_dict)", key="imp_weights"))
        f["model_args"] = st.text_input("Constructor arguments (JSON)", "{}", key="imp_args")
    if route == "z_points":
        f["z_points"] = _path(st.text_input("z-points (.npy, float [N, d])", key="imp_z"))
        f["z_ids"] = _path(st.text_input("Image id of each row (text file; optional)", key="imp_zids",
                                         help="Without it the rows follow the dataset's order (sorted file names)."))
        f["decoder"] = _path(st.text_input("Decoder file (optional: .onnx or TorchScript)", key="imp_zdec"))
    if route in ("torchscript", "class"):
        c1, c2 = st.columns(2)
        f["encode_method"] = c1.text_input("Encode method", key="imp_enc_m", placeholder="encode").strip() or None
        f["decode_method"] = c2.text_input("Decode method", key="imp_dec_m", placeholder="decode").strip() or None
    if route != "z_points":
        f["encoder_output"] = st.text_input("Encoder output that is the latent (optional)", key="imp_out",
                                            help="Index (of a tuple) or name (an ONNX output, a dict key, a "
                                                 "namedtuple field), e.g. mu; a VAE's mean is found by name "
                                                 "when it is called mean/mu. Never a random draw.").strip() or None
    return f


def _convention_fields() -> dict:
    st.markdown("**What the model expects** (ONNX inputs say size and layout themselves)")
    c1, c2 = st.columns(2)
    size = c1.number_input("Image size (0: from the model)", 0, 1024, 0, step=16, key="imp_size")
    vrange = c2.selectbox("Value range", ["auto", *api.VALUE_RANGES], key="imp_range",
                          format_func=lambda r: "auto (best reconstruction)" if r == "auto" else f"[{r}]")
    c3, c4 = st.columns(2)
    layout = c3.selectbox("Channels", ["auto", "nchw", "nhwc"], key="imp_layout",
                          format_func={"auto": "auto", "nchw": "first (PyTorch)", "nhwc": "last (Keras)"}.get)
    colour = c4.selectbox("Colour", ["auto", 3, 1], key="imp_channels",
                          format_func={"auto": "auto", 3: "RGB", 1: "grey"}.get)
    return {"image_size": int(size) or None, "value_range": None if vrange == "auto" else vrange,
            "layout": None if layout == "auto" else layout,
            "channels": None if colour == "auto" else int(colour)}


def _data_fields() -> dict:
    """DataConfig arguments (built on submit: a half-filled form must not raise while drawn)."""
    dataset = st.radio("Images to encode", list(DATASETS), format_func=DATASETS.get, key="imp_dataset")
    data_dir = _path(st.text_input("Path (CelebA root or image folder)", key="imp_path"))
    c1, c2 = st.columns(2)
    limit = c1.number_input("Only the first N images (0: all)", 0, 10_000_000, 0, key="imp_limit")
    n_syn = c2.number_input("Synthetic faces", 500, 500_000, 10_000, step=1000, key="imp_nsyn")
    c3, c4 = st.columns(2)
    resize = c3.selectbox("Resize filter", api.RESIZE_FILTERS, key="imp_resize",
                          help="The Pillow filter the model's training images were resized with.")
    heldout = c4.number_input("Held out (no valid/test partition)", 0.0, 0.5, 0.1, step=0.05, key="imp_heldout")
    # the image size is the model's: the import fills it in once the model is open
    return {"dataset": dataset, "data_dir": data_dir if dataset != "synthetic" else None, "image_size": 64,
            "limit": int(limit) or None, "synthetic_n": int(n_syn), "resize": resize,
            "val_fraction": float(heldout)}


def _submit(fields: dict, data_args: dict, rid: str, trust: bool) -> None:
    import json

    try:
        args = json.loads(fields.pop("model_args", "{}") or "{}")
        ext = api.ExternalConfig(**fields, model_args=args, trust_code=trust)
        ext.check()
        data = api.DataConfig(**data_args)
        rid = api.check_run_id(rid.strip() or api.default_import_id(ext, data))
    except (AtlasError, ValueError, TypeError) as e:
        st.error(f"refused: {e}")
        return
    if api.RunPaths.of(rid).exists():
        st.error(f"run {rid} already exists; pick another run id")
        return
    if api.start_import(rid, api.import_request_json(ext, data)):
        st.session_state.setdefault("_importing", []).append(rid)
    st.rerun()


def import_form() -> None:
    with st.expander("Import a model"):
        route = st.radio("Model", list(ROUTES), format_func=ROUTES.get, key="imp_route")
        kind, text = SAFETY[route]
        getattr(st, kind)(text)
        with st.form("import_model", border=False):
            fields = {**_model_fields(route), **_convention_fields()}
            data = _data_fields()
            rid = st.text_input("Run id (optional)", key="imp_rid")
            # z-points may come with a TorchScript decoder: code too
            trust = st.checkbox("I trust this code", key="imp_trust") if route != "onnx" else False
            submitted = st.form_submit_button("Import", type="primary")
        if submitted:
            if data["dataset"] != "synthetic" and not data["data_dir"]:
                st.error("give the path of the images to encode")
            else:
                _submit(fields, data, rid, trust)
        if api.imports() or st.session_state.get("_importing"):
            _imports_panel()


@st.fragment(run_every=2.0)
def _imports_panel() -> None:
    """Running and failed imports; a finished one becomes the picked run."""
    for rid in list(st.session_state.get("_importing", [])):
        if api.RunPaths.of(rid).exists():
            st.session_state["_importing"].remove(rid)
            session.select_run(rid)
            st.rerun(scope="app")
    for rid, s in api.imports():
        if s.get("state") == "failed":
            st.error(f"import of **{rid}** refused: {s.get('message')}")
            if st.button("Dismiss", key=f"imp_dismiss_{rid}"):
                api.dismiss_import(rid)
                st.rerun(scope="app")
            continue
        frac = s.get("encoded", 0) / s["total"] if s.get("total") else 0.0
        st.progress(min(frac, 1.0), text=f"importing **{rid}**: {s.get('state')}, {s.get('message', '')}")
        tail = api.log_tail(api.RunPaths.of(rid).import_log, 5)
        if tail:
            st.code(tail, language=None)
