"""Figures and videos written as files (plots, image grids, GIFs)."""
