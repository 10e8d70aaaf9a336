"""What readers see, summarised the same way for the table and the cache (`sql/catalog_read.sql`)."""

from __future__ import annotations

import psycopg

from .statements import statements

def table_checksum(conn: psycopg.Connection) -> tuple[int, str]:
    """Row count and a checksum of what readers see (ids and content, in id order).

    The cache manifest records the same pair, so table and cache are compared with one definition.
    """
    row = conn.execute(statements("catalog_read")["table_checksum"]).fetchone()
    return int(row[0]), row[1]
