"""Capture of training from Python code that runs outside Spark."""

from atlas_mlplugin.hooks.training import TrainingRun, current_run, track_training

__all__ = ["TrainingRun", "current_run", "track_training"]
