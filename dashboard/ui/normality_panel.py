"""'Is the core a multivariate normal?': the normality figures the statistics already hold
(api.normality_verdict), in words, for the Components and Projections pages."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import api


def show(s, expanded: bool = False) -> None:
    v = api.normality_verdict(s)
    with st.expander(f"Is the core a multivariate normal? {v['headline'].split(':')[0]}", expanded=expanded):
        st.markdown(f"**{v['headline']}**")
        st.markdown("\n".join(f"- {line}" for line in v["details"]))
        # a static table (5 rows): the pages' interactive tables stay the only dataframes
        df = pd.DataFrame([(k, *vals) for k, vals in v["table"].items()],
                          columns=["measure", "this run", "a Gaussian", "p-value"])
        st.table(df.style.format({"this run": "{:.4g}", "a Gaussian": "{:.4g}", "p-value": "{:.2g}"},
                                 na_rep="–").hide(axis="index"))
        st.caption("With thousands of points every test rejects; judge the effect sizes. The core is the "
                   "points inside the Mahalanobis radius holding a Gaussian's ±3σ mass (the tails are cut "
                   "so outliers do not decide); skewness on a seeded subsample of 2,000 core points.")
