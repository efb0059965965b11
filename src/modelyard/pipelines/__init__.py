"""Reproducible pipelines: steps, DAGs, caching, executors and lineage (C1)."""
