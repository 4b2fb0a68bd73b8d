"""Shared test settings: headless plotting and a fixed default profile."""

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("GMTEXT_PROFILE", "default")
