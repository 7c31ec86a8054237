"""Streamlit dashboard of the latent-space atlas (run: streamlit run dashboard/app.py)."""
