"""autolit: image store → spec-built Lightning model → Optuna search → exported model."""

__version__ = "0.1.0"
