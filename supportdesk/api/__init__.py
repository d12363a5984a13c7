"""The REST API: /api/v1/, personal access tokens, OpenAPI 3.1 generated from the code."""
