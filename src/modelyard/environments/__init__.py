"""Reusable environments: declared, resolved, hashed, materialized with uv (C2)."""
