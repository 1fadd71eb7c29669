from __future__ import annotations

from store.pgserver import pg_server, store_target

__all__ = ["pg_server", "store_target"]
