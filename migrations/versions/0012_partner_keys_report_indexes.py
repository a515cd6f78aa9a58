"""Open311 partner keys (hashed, revocable) and indexes on reports: newest first (the public list, exports by
date), per team by arrival (the monthly SLA table), dispatched-to team/handler by state (the handler queue)

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

import volunteer.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('partner_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('revoked_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_partner_keys_created_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_partner_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_partner_keys_key_hash'))
    )
    with op.batch_alter_table('partner_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_keys_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_reports_team_created', ['team_id', 'created_at'], unique=False)
        batch_op.create_index('ix_reports_assigned_team_state', ['assigned_team_id', 'state'], unique=False)
        batch_op.create_index('ix_reports_assigned_user_state', ['assigned_user_id', 'state'], unique=False)


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_assigned_user_state')
        batch_op.drop_index('ix_reports_assigned_team_state')
        batch_op.drop_index('ix_reports_team_created')
        batch_op.drop_index('ix_reports_created_at_id')
    with op.batch_alter_table('partner_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_keys_user_id'))
    op.drop_table('partner_keys')
