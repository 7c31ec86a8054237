"""Plotly figure for the Quality page (data in, figure out): FID against `fact` for the box
samplers, with the Gaussian and mixture samplers (and REC / REAL) as horizontal lines."""
from __future__ import annotations

import plotly.graph_objects as go

SWEEP_COLORS = {"box": "#E07B39", "pca_box": "#3A7CA5"}
LINE_STYLES = {"REC": ("#2E7D32", "dash"), "REAL": ("#555555", "dot"), "diag_gauss": ("#9C27B0", "dashdot"),
               "full_gauss": ("#C2185B", "longdash"), "gmm": ("#00897B", "solid")}


def fid_vs_fact(rows: list[dict], ref: str, metric: str = "fid") -> go.Figure:
    """rows: quality records (api.quality_rows); ref: 'real' or 'rec'."""
    fig = go.Figure()
    for sampler, color in SWEEP_COLORS.items():
        pts = sorted((r["params"]["fact"], r["metrics"][ref][metric]) for r in rows
                     if r["sampler"] == sampler and "fact" in r["params"] and ref in r["metrics"])
        if pts:
            fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                            name=sampler, line=dict(color=color, width=2))
    for r in rows:
        if r["sampler"] in LINE_STYLES and ref in r["metrics"]:
            color, dash = LINE_STYLES[r["sampler"]]
            y = r["metrics"][ref][metric]
            fig.add_hline(y=y, line=dict(color=color, dash=dash, width=1.5),
                          annotation_text=f"{r['sampler']} {y:.1f}", annotation_position="top right")
            fig.add_scatter(x=[None], y=[None], mode="lines", name=r["sampler"],   # legend entry
                            line=dict(color=color, dash=dash))
    label = {"fid": "FID", "kid": "KID"}.get(metric, metric)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="fact (box half width in fitted half widths)",
                      yaxis_title=f"{label} vs held-out {'real images' if ref == 'real' else 'reconstructions'}"
                      " (lower is better)", legend=dict(orientation="h", y=-0.2))
    return fig
