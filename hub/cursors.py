"""Source cursors: where each source's last published harvest stopped.

An HTTP feed's ETag and Last-Modified make the next fetch conditional; a portal's position
(the latest `metadata_modified` it listed) makes the next listing an increment, until a whole
listing is due again (`listed_at`, see `pipelines.portal.relisting_due`).
"""

from __future__ import annotations

from sqlmodel import Session

from hub.db import get_engine, retry_locked
from hub.models import SourceCursor, utcnow


def load_cursor(source_id: str) -> SourceCursor:
    """The source's cursor, or an empty one when it was never harvested."""
    with Session(get_engine(), expire_on_commit=False) as session:
        return session.get(SourceCursor, source_id) or SourceCursor(source_id=source_id)


def save_cursor(
    source_id: str, etag: str, last_modified: str, position: str, *, listed: bool = False
) -> None:
    """Move the source's cursor to what its last published harvest saw; `listed`: that harvest
    listed a whole portal."""

    def write() -> None:
        with Session(get_engine()) as session:
            cursor = session.get(SourceCursor, source_id) or SourceCursor(source_id=source_id)
            cursor.etag, cursor.last_modified = etag, last_modified
            cursor.position, cursor.updated_at = position, utcnow()
            if listed:
                cursor.listed_at = cursor.updated_at
            session.add(cursor)
            session.commit()

    retry_locked(write)
