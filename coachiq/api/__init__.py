"""HTTP API: health and metrics, the v2 domain API, problem+json errors."""
