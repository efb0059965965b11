"""The model registry: registered models, immutable versions, aliases (C3)."""
