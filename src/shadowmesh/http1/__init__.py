"""The HTTP/1.1 upstream layer under both the primary path (`proxy/`) and the shadow
pipelines (`mirror/`): framing, one connection and its response lifecycle, the per-cluster
pool, and the live clusters. It imports neither of them."""
