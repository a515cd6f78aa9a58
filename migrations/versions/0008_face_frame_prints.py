"""face_frame_prints replace face_attempts.frame_digests: a replay check that survives re-encoding

The exact-pixel digests are dropped (a re-encoded replay passed them). The new rows are encrypted encodings and
perceptual hashes of accepted frames; nothing can be rebuilt from the old digests, so the upgrade starts empty and
the downgrade brings the digest column back empty.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

import volunteer.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('face_frame_prints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['face_attempts.id'], name=op.f('fk_face_frame_prints_attempt_id_face_attempts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_face_frame_prints_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_face_frame_prints'))
    )
    with op.batch_alter_table('face_frame_prints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_frame_prints_attempt_id'), ['attempt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_face_frame_prints_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('face_attempts', schema=None) as batch_op:
        batch_op.drop_column('frame_digests')


def downgrade():
    with op.batch_alter_table('face_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frame_digests', sa.String(length=200), nullable=False, server_default=''))
    with op.batch_alter_table('face_frame_prints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_frame_prints_user_id'))
        batch_op.drop_index(batch_op.f('ix_face_frame_prints_attempt_id'))
    op.drop_table('face_frame_prints')
