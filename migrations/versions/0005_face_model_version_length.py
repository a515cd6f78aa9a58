"""face_templates.model_version holds "face_recognition_models-0.3.0" (29 characters)

PostgreSQL enforced the old varchar(20) and every enrolment failed there; SQLite never checks lengths.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('face_templates', schema=None) as batch_op:
        batch_op.alter_column('model_version', existing_type=sa.String(length=20), type_=sa.String(length=60),
                              existing_nullable=False)


def downgrade():
    # A template written with a longer version string cannot fit the old column: it must be re-enrolled anyway
    # with the old model, so it is deleted rather than silently cut.
    op.execute(sa.text("DELETE FROM face_templates WHERE length(model_version) > 20"))
    with op.batch_alter_table('face_templates', schema=None) as batch_op:
        batch_op.alter_column('model_version', existing_type=sa.String(length=60), type_=sa.String(length=20),
                              existing_nullable=False)
