"""Pagemind: a private desktop assistant on a local model."""

__version__ = "0.1.0"
