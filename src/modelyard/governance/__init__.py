"""Governance (C4): the audit log as a tool, users and tokens, members, stored secrets."""
