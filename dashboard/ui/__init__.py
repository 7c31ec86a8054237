"""What the pages draw with: figure builders (charts_*: data in, plotly figure out, no
streamlit), and the widgets, panels and sidebar forms the pages share."""
