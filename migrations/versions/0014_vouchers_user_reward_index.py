"""vouchers (user_id, reward_id, id): a redemption's per-volunteer questions read only this volunteer's vouchers of
this reward, and "a voucher newer than the one the confirmation page showed" is a range of (usually) no rows

Revision ID: 0014
Revises: 0013
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.create_index('ix_vouchers_user_reward_id', ['user_id', 'reward_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_user_reward_id')
