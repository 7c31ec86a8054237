"""One module per page; each runs its render() when Streamlit executes it as a page."""
