"""paperbot's own HTTP server: /healthz, and the routes platforms add to it."""
