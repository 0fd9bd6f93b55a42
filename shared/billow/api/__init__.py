"""The HTTP edge: routers, request models, problems, auth, idempotency, pagination."""
