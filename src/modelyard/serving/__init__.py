"""Serving: the scoring server, endpoints and deployments, rollout and the inference log."""
