"""The HTTP headers the endpoint router and the scoring servers behind it agree on.

Header names are case-insensitive; these are the spellings we send and look up.
"""

from __future__ import annotations

# The request's id: the client's, or a new one; every answer carries it and the inference
# log joins feedback to predictions by it.
REQUEST_ID = "x-request-id"
# Requests with the same key land on the same deployment while the traffic shares stand.
ROUTING_KEY = "x-modelyard-routing-key"
# Set by the router on the copy of a request sent to a mirror deployment.
MIRROR = "x-modelyard-mirror"
# Which deployment answered, on the router's responses.
DEPLOYMENT = "x-modelyard-deployment"
