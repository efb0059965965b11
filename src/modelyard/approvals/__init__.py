"""Approvals: protection rules on aliases and traffic, and the requests they make."""
