"""REST routes, one module per resource family; each route parses, calls one function, shapes.

Every router carries the full ``/api/v1`` prefix itself (rather than getting
it from ``include_router``), so a route's own ``path`` is the template the
access log and the metrics label it with.
"""

API_PREFIX = "/api/v1"
