"""The REST server (FastAPI): routes derived from the areas' operations."""
