"""patrol reports: a two-level category tree (seeded), reports, their photos and timeline, team areas

Also the ledger's entry kind "report_award" (the CHECK of point_entries.kind and hour_entries.kind is rebuilt).
The category tree is seeded from volunteer/data/report_categories.json as shipped with this revision.

Revision ID: 0011
Revises: 0008
"""
import json
from pathlib import Path

from alembic import op
import sqlalchemy as sa

import volunteer.db

revision = '0011'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=50), nullable=False),
    sa.Column('name_en', sa.String(length=50), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('parent_level', sa.Integer(), nullable=True),
    sa.Column('handler_kind', sa.Enum('district', 'street', 'community', 'grid', name='teamkind', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('sign_seconds', sa.Integer(), nullable=False),
    sa.Column('dispatch_seconds', sa.Integer(), nullable=False),
    sa.Column('close_seconds', sa.Integer(), nullable=False),
    sa.Column('public_photos', sa.Boolean(), nullable=False),
    sa.Column('sensitive', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('created_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(level = 1 AND parent_id IS NULL AND parent_level IS NULL) OR (level = 2 AND parent_id IS NOT NULL AND parent_level = 1)', name=op.f('ck_report_categories_parent_one_level_up')),
    sa.CheckConstraint('level IN (1, 2)', name=op.f('ck_report_categories_two_levels')),
    sa.CheckConstraint('points >= 0', name=op.f('ck_report_categories_points_not_negative')),
    sa.CheckConstraint('sign_seconds > 0 AND dispatch_seconds >= sign_seconds AND close_seconds >= dispatch_seconds', name=op.f('ck_report_categories_clock_in_order')),
    sa.ForeignKeyConstraint(['parent_id', 'parent_level'], ['report_categories.id', 'report_categories.level'], name='fk_report_categories_parent'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_report_categories_code')),
    sa.UniqueConstraint('id', 'level', name=op.f('uq_report_categories_id_level'))
    )
    with op.batch_alter_table('report_categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_categories_parent_id'), ['parent_id'], unique=False)

    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reporter_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('latitude', sa.Double(), nullable=False),
    sa.Column('longitude', sa.Double(), nullable=False),
    sa.Column('accuracy_m', sa.Double(), nullable=True),
    sa.Column('location_source', sa.Enum('gps', 'pin', name='locationsource', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('shift_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('new', 'signed', 'dispatched', 'handled', 'closed', 'rejected', name='reportstate', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('clock_from', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('signed_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('signed_by_id', sa.Integer(), nullable=True),
    sa.Column('dispatched_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('assigned_team_id', sa.Integer(), nullable=True),
    sa.Column('assigned_user_id', sa.Integer(), nullable=True),
    sa.Column('handled_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('rejected_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reject_reason', sa.Enum('duplicate', 'invalid', 'out_of_scope', name='rejectreason', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('reopened_at', volunteer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status_note', sa.String(length=500), nullable=False),
    sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_useful', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('points_awarded', sa.Integer(), nullable=False),
    sa.Column('created_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(state = 'rejected') = (reject_reason IS NOT NULL AND rejected_at IS NOT NULL)", name=op.f('ck_reports_rejected_has_reason')),
    sa.CheckConstraint("NOT confirmed_useful OR state = 'closed'", name=op.f('ck_reports_useful_only_closed')),
    sa.CheckConstraint("duplicate_of_id IS NULL OR (duplicate_of_id <> id AND state = 'rejected' AND reject_reason = 'duplicate')", name=op.f('ck_reports_merged_is_rejected_duplicate')),
    sa.CheckConstraint("state <> 'closed' OR closed_at IS NOT NULL", name=op.f('ck_reports_closed_has_time')),
    sa.CheckConstraint("state NOT IN ('dispatched', 'handled', 'closed') OR (dispatched_at IS NOT NULL AND (assigned_team_id IS NOT NULL OR assigned_user_id IS NOT NULL))", name=op.f('ck_reports_dispatched_has_assignee')),
    sa.CheckConstraint("state NOT IN ('handled', 'closed') OR handled_at IS NOT NULL", name=op.f('ck_reports_handled_has_time')),
    sa.CheckConstraint("state NOT IN ('signed', 'dispatched', 'handled', 'closed') OR (signed_at IS NOT NULL AND signed_by_id IS NOT NULL)", name=op.f('ck_reports_signed_has_signer')),
    sa.CheckConstraint('accuracy_m IS NULL OR accuracy_m >= 0', name=op.f('ck_reports_accuracy_not_negative')),
    sa.CheckConstraint('latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180', name=op.f('ck_reports_coordinates')),
    sa.CheckConstraint('points_awarded >= 0', name=op.f('ck_reports_points_not_negative')),
    sa.CheckConstraint("(due_at IS NULL) = (state IN ('closed', 'rejected'))", name=op.f('ck_reports_open_has_deadline')),
    sa.ForeignKeyConstraint(['assigned_team_id'], ['teams.id'], name=op.f('fk_reports_assigned_team_id_teams')),
    sa.ForeignKeyConstraint(['assigned_user_id'], ['users.id'], name=op.f('fk_reports_assigned_user_id_users')),
    sa.ForeignKeyConstraint(['category_id'], ['report_categories.id'], name=op.f('fk_reports_category_id_report_categories')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_reports_closed_by_id_users')),
    sa.ForeignKeyConstraint(['duplicate_of_id'], ['reports.id'], name=op.f('fk_reports_duplicate_of_id_reports')),
    sa.ForeignKeyConstraint(['handled_by_id'], ['users.id'], name=op.f('fk_reports_handled_by_id_users')),
    sa.ForeignKeyConstraint(['reporter_id'], ['users.id'], name=op.f('fk_reports_reporter_id_users')),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_reports_shift_id_shifts')),
    sa.ForeignKeyConstraint(['signed_by_id'], ['users.id'], name=op.f('fk_reports_signed_by_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_reports_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_assigned_team_id'), ['assigned_team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_assigned_user_id'), ['assigned_user_id'], unique=False)
        batch_op.create_index('ix_reports_category_state_created', ['category_id', 'state', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_duplicate_of_id'), ['duplicate_of_id'], unique=False)
        batch_op.create_index('ix_reports_reporter_created', ['reporter_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_shift_id'), ['shift_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_state'), ['state'], unique=False)
        batch_op.create_index('ix_reports_team_state_due', ['team_id', 'state', 'due_at'], unique=False)
        batch_op.create_index('ix_reports_state_due', ['state', 'due_at'], unique=False)

    op.create_table('report_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.Enum('created', 'signed', 'dispatched', 'handled', 'closed', 'rejected', 'reopened', 'merged', 'merged_in', name='eventaction', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('from_state', sa.Enum('new', 'signed', 'dispatched', 'handled', 'closed', 'rejected', name='from_state', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('to_state', sa.Enum('new', 'signed', 'dispatched', 'handled', 'closed', 'rejected', name='to_state', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('other_report_id', sa.Integer(), nullable=True),
    sa.Column('created_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_report_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['other_report_id'], ['reports.id'], name=op.f('fk_report_events_other_report_id_reports')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_events_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_report_events_team_id_teams')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_report_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_events'))
    )
    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.create_index('ix_report_events_report_id_id', ['report_id', 'id'], unique=False)

    op.create_table('report_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('report', 'feedback', name='photokind', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=20), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('byte_size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', volunteer.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png')", name=op.f('ck_report_photos_jpeg_or_png')),
    sa.CheckConstraint('byte_size > 0 AND width > 0 AND height > 0', name=op.f('ck_report_photos_not_empty')),
    sa.CheckConstraint('position >= 0 AND position < 3', name=op.f('ck_report_photos_at_most_three')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_photos_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_report_photos_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_photos')),
    sa.UniqueConstraint('report_id', 'kind', 'position', name=op.f('uq_report_photos_report_id_kind_position'))
    )
    with op.batch_alter_table('report_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_photos_report_id'), ['report_id'], unique=False)

    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('area_latitude', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('area_longitude', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('area_radius_m', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('area_polygon', sa.JSON(), nullable=True))
        batch_op.create_check_constraint(
            'area_circle_whole', "(area_latitude IS NULL) = (area_longitude IS NULL)"
            " AND (area_latitude IS NULL) = (area_radius_m IS NULL)")
        batch_op.create_check_constraint(
            'area_circle_valid', "area_latitude IS NULL OR (area_latitude BETWEEN -90 AND 90"
            " AND area_longitude BETWEEN -180 AND 180 AND area_radius_m > 0)")

    for table in ('point_entries', 'hour_entries'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('kind', existing_type=_kinds(OLD_KINDS), type_=_kinds(OLD_KINDS + ('report_award',)),
                                  existing_nullable=False)
    _seed_categories()


OLD_KINDS = ('shift_award', 'redemption', 'refund', 'adjustment', 'expiry', 'legacy_import', 'reversal')


def _kinds(values):
    return sa.Enum(*values, name='entrykind', native_enum=False, create_constraint=True, length=20)


def _seed_categories():
    tree = json.loads((Path(__file__).resolve().parents[2] / 'volunteer' / 'data' / 'report_categories.json')
                      .read_text(encoding='utf-8'))
    table = sa.table('report_categories', *[sa.column(c) for c in (
        'id', 'code', 'name_zh', 'name_en', 'level', 'parent_id', 'parent_level', 'handler_kind', 'points',
        'sign_seconds', 'dispatch_seconds', 'close_seconds', 'public_photos', 'sensitive', 'is_active',
        'sort_order', 'created_at')])
    rows, next_id = [], 1
    now = sa.func.now()
    for order, group in enumerate(tree):
        group_id = next_id
        rows.append(_category(group, group_id, 1, None, None, order))
        next_id += 1
        for child_order, child in enumerate(group.get('children', ())):
            rows.append(_category({**child, 'handler_kind': child.get('handler_kind', group.get('handler_kind'))},
                                  next_id, 2, group_id, 1, child_order))
            next_id += 1
    for row in rows:
        op.execute(table.insert().values(created_at=now, **row))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SELECT setval(pg_get_serial_sequence('report_categories', 'id'), %d)" % (next_id - 1))


def _category(node, id_, level, parent_id, parent_level, order):
    return {'id': id_, 'code': node['code'], 'name_zh': node['name_zh'], 'name_en': node['name_en'], 'level': level,
            'parent_id': parent_id, 'parent_level': parent_level, 'handler_kind': node.get('handler_kind'),
            'points': node.get('points', 0), 'sign_seconds': 60, 'dispatch_seconds': 1800, 'close_seconds': 86400,
            'public_photos': node.get('public_photos', False), 'sensitive': node.get('sensitive', False),
            'is_active': True, 'sort_order': order}


def downgrade():
    op.execute("DELETE FROM point_entries WHERE kind = 'report_award'")  # their cached balances stay as they were
    for table in ('point_entries', 'hour_entries'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('kind', existing_type=_kinds(OLD_KINDS + ('report_award',)), type_=_kinds(OLD_KINDS),
                                  existing_nullable=False)
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_teams_area_circle_valid'), type_='check')
        batch_op.drop_constraint(op.f('ck_teams_area_circle_whole'), type_='check')
        batch_op.drop_column('area_polygon')
        batch_op.drop_column('area_radius_m')
        batch_op.drop_column('area_longitude')
        batch_op.drop_column('area_latitude')

    with op.batch_alter_table('report_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_photos_report_id'))

    op.drop_table('report_photos')
    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.drop_index('ix_report_events_report_id_id')

    op.drop_table('report_events')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_state_due')
        batch_op.drop_index('ix_reports_team_state_due')
        batch_op.drop_index(batch_op.f('ix_reports_state'))
        batch_op.drop_index(batch_op.f('ix_reports_shift_id'))
        batch_op.drop_index('ix_reports_reporter_created')
        batch_op.drop_index(batch_op.f('ix_reports_duplicate_of_id'))
        batch_op.drop_index('ix_reports_category_state_created')
        batch_op.drop_index(batch_op.f('ix_reports_assigned_user_id'))
        batch_op.drop_index(batch_op.f('ix_reports_assigned_team_id'))

    op.drop_table('reports')
    with op.batch_alter_table('report_categories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_categories_parent_id'))

    op.drop_table('report_categories')
