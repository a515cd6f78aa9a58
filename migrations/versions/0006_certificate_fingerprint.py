"""certificates.fingerprint: one certificate (one code) per volunteer and record, reused on every download

Certificates issued before this revision keep their codes (and stay verifiable); each gets a fingerprint of its
own that no current record can produce, so the next download issues a certificate with a real fingerprint.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))
    op.execute(sa.text("UPDATE certificates SET fingerprint = 'issued-before-0006:' || CAST(id AS VARCHAR(20))"))
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.alter_column('fingerprint', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_certificates_user_id_fingerprint'), ['user_id', 'fingerprint'])


def downgrade():
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_certificates_user_id_fingerprint'), type_='unique')
        batch_op.drop_column('fingerprint')
