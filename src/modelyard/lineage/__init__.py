"""Lineage: where a model, a run or a dataset came from and where it went.

Nothing here is stored: the graph is derived on each query from what the areas record
(step lineage edges, a run's input datasets, a version's source run, a deployment's
version), and exported as OpenLineage run events for other tools.
"""
