"""Housekeeping of the artifact store: garbage collection of blobs nothing references.

Like lineage, it reads every area's records (the columns that name blobs) through
``modelyard.storage``; it imports no area.
"""
