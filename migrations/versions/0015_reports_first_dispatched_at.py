"""reports.first_dispatched_at: the SLA's "dispatched within 30 minutes" is the first dispatch's

dispatched_at is rewritten by every re-dispatch (and cleared by a reopening), so a report dispatched in time and
redirected an hour later read as dispatched late. Filled from the first "dispatched" event of each timeline, else
from dispatched_at.

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

import volunteer.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_dispatched_at', volunteer.db.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE reports SET first_dispatched_at = COALESCE("
        "(SELECT min(e.created_at) FROM report_events e WHERE e.report_id = reports.id AND e.action = 'dispatched'),"
        " dispatched_at)")


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('first_dispatched_at')
