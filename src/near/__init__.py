"""NEAR: noise-conditioned energy-based annealed rewards, in JAX."""

__version__ = "0.1.0"
