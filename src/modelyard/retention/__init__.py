"""Retention: rules per workspace saying what may go once it is old, applied by the scheduler.

Old finished runs (and pipeline runs with their step runs) are deleted through tracking's
own ``delete_run``, so each deletion is audited and announced as any other; what something
still needs (a model version registered from it, a deployment serving that version, a step
run reusing its outputs from the cache) is kept, with the reason. The oldest audit records
may be pruned so that ``audit verify`` still checks what is left (``core/audit.py``). Like
housekeeping and lineage, retention reads other areas' records through ``modelyard.storage``.
"""
