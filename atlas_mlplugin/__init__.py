"""atlas-mlplugin: the legal and ethical status of training data, carried along lineage into models."""

__version__ = "0.1.0"
