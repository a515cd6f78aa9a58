"""face_thumbnails and thumbnail_consents: an optional, encrypted check-in face crop for the approving coordinator

Both tables start empty: nobody has agreed to thumbnails before this revision.

Also: liveness challenges become signed, stateless tokens (issued on GET without a write); liveness_challenges is
replaced by spent_challenges, the nonces of used tokens under a UNIQUE constraint. Open challenges are dropped
(they live two minutes; a page open during the upgrade asks for a new one).

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

import volunteer.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('spent_challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_spent_challenges_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spent_challenges')),
    sa.UniqueConstraint('nonce', name=op.f('uq_spent_challenges_nonce'))
    )
    with op.batch_alter_table('spent_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_challenges_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('liveness_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_liveness_challenges_user_id'))
    op.drop_table('liveness_challenges')
    op.create_table('thumbnail_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('policy_version', sa.String(length=20), nullable=False),
    sa.Column('given_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_thumbnail_consents_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_thumbnail_consents'))
    )
    with op.batch_alter_table('thumbnail_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_thumbnail_consents_user_id'), ['user_id'], unique=False)

    op.create_table('face_thumbnails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('attendance_id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("direction IN ('in', 'out')", name=op.f('ck_face_thumbnails_direction')),
    sa.ForeignKeyConstraint(['attempt_id'], ['face_attempts.id'], name=op.f('fk_face_thumbnails_attempt_id_face_attempts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['attendance_id'], ['attendances.id'], name=op.f('fk_face_thumbnails_attendance_id_attendances'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_face_thumbnails_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_face_thumbnails')),
    sa.UniqueConstraint('attendance_id', 'direction', name=op.f('uq_face_thumbnails_attendance_id_direction'))
    )
    with op.batch_alter_table('face_thumbnails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_thumbnails_attempt_id'), ['attempt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_face_thumbnails_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('face_thumbnails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_thumbnails_user_id'))
        batch_op.drop_index(batch_op.f('ix_face_thumbnails_attempt_id'))

    op.drop_table('face_thumbnails')
    with op.batch_alter_table('thumbnail_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_thumbnail_consents_user_id'))

    op.drop_table('thumbnail_consents')
    op.create_table('liveness_challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('steps', sa.String(length=40), nullable=False),
    sa.Column('expires_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_liveness_challenges_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_liveness_challenges')),
    sa.UniqueConstraint('token', name=op.f('uq_liveness_challenges_token'))
    )
    with op.batch_alter_table('liveness_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_liveness_challenges_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('spent_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spent_challenges_user_id'))
    op.drop_table('spent_challenges')
