"""reports.partner_key_id: the Open311 partner key a report was filed with (None: the web form)

A key read back every report of the account it files as, the clues that account sent through the web form and the
reports of its other keys included; now a key reads (beyond the public ones) only what it filed itself. Reports filed
before this revision cannot be told apart from web reports of the same account, so they stay NULL: their partner no
longer sees its own sensitive ones, rather than every key seeing the account's web clues.

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_key_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_reports_partner_key_id'), ['partner_key_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_reports_partner_key_id_partner_keys'), 'partner_keys',
                                    ['partner_key_id'], ['id'])


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_reports_partner_key_id_partner_keys'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_reports_partner_key_id'))
        batch_op.drop_column('partner_key_id')
