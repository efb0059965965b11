"""Governance (C4): the audit log as a tool; later identity, roles, approvals and retention."""
