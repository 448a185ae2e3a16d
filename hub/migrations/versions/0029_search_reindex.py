"""the search index rebuilt for its new terms: freshness, label stems, codes, record names

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 12:30:00

No table changes. The index now holds `fresh_at` (hub.freshness), the moment each dataset's
freshness is measured from, codes written apart as one term (`PM 10`) and the places and taxa an
open dataset's records name (`hub.recordnames`), which documents indexed before lack. Emptying `searchdoc` makes `hub.db.upgrade` rebuild the whole index after the
migrations (`searchindex.incomplete`), with the code of the release that runs it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM searchdoc"))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM searchdoc"))  # the older release rebuilds it in its terms
