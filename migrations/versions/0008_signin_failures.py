"""Failed sign-ins per network address and minute, for the per-address throttle (identity_signin_failures).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 00:50:00
"""
from alembic import op
import sqlalchemy as sa
import yiwang.core.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_signin_failures',
    sa.Column('source_key', sa.String(length=32), nullable=False),
    sa.Column('minute', yiwang.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('source_key', 'minute', name=op.f('pk_identity_signin_failures'))
    )
    with op.batch_alter_table('identity_signin_failures', schema=None) as batch_op:
        batch_op.create_index('ix_identity_signin_failures_minute', ['minute'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('identity_signin_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_identity_signin_failures_minute')

    op.drop_table('identity_signin_failures')
