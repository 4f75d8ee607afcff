"""Layer 4: the SQLite catalog, an index of commits, runs, params and metrics for fast queries,
never the truth: ``Repo.reindex`` rebuilds it from objects and refs.

``db`` (the connection, schema and pending notes), ``runs`` (run tables and indexing),
``commits`` (history from the index), ``table`` and ``query`` (``runs --where/--sort``),
``liveness`` (a listed run and whether a running one is still alive), ``sync`` (what a ref
reaches gets indexed, now or later).
"""
