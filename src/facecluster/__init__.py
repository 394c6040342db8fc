"""facecluster: a reproducible benchmark study of face clustering."""

__version__ = "0.1.0"
