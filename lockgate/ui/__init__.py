"""``lockgate ui``: a read-only release page served by the standard library's HTTP server."""
