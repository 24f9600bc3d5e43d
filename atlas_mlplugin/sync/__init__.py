"""Mirroring what other ML tools record (MLflow runs and models) into Atlas, through the catalog's apply path."""
