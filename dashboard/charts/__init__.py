"""Plotly figure and image builders: plain functions, arrays in, figure (or JPEG) out. They never
import streamlit or the rest of the app, so they are tested without a server."""
