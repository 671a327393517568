"""kept pairings and order minutes: two more dashboard figures summed per org

GET /dashboard counted a subtree's active pairings (both sides) and its service
orders' approved minutes of the month from the rows, on every request: for a
district, an index probe per org of its subtree into pairings and volunteer_hours
(~170 of the figures' ~1,380 buffers at scale 1). Both counting rules are sums that
a row adds to one org, by its status now (and for minutes the month they start), so
fact_counts keeps them like the record counts of e5a4c2b6d005: the dashboards read
them in the rows of fact_counts they already read.

New facts (the rules are stated in app/models/fact_counts.py, "The counting rules"):
- pairings_active ('' period) at the pairing's community, unit_pairings_active at
  its unit, +1 while the pairing is active;
- service_order_minutes ('YYYY-MM'): approved entries credited for service orders,
  by the month of started_at, at the entry's org, spread over MINUTE_PARTS by the
  person as approved_volunteer_minutes is.

volunteer_hours' triggers are replaced by ones keeping both minute facts (their
names stay; the update trigger also watches `source`); pairings gets its own. The
triggers are created before the backfill: creating them locks the table against
writes until this revision commits, so no write falls between the two.

Revision ID: d1e5a7c9b024
Revises: d1a7c3e5f842
Create Date: 2026-12-06 10:30:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'd1e5a7c9b024'
down_revision: Union[str, Sequence[str], None] = 'd1a7c3e5f842'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# app/models/fact_counts.MINUTE_PARTS, as of this revision.
MINUTE_PARTS = 16
KEY = 'org_id, period, fact, part'


def _month(column: str, dialect: str) -> str:
    if dialect == 'postgresql':
        return f"to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
    return f"strftime('%Y-%m', {column}, '+8 hours')"


def _rows(
    table: str, r: str, sign: str, dialect: str, *, new: bool = True
) -> list[tuple[str, str, str, str, str, str]]:
    """What one row `r` of `table` counts: (org, period, fact, part, n, condition).
    `new`: with this revision's facts (False: volunteer_hours as e5a4c2b6d005 kept it)."""
    if table == 'pairings':
        # Rules pairings_active and unit_pairings_active.
        active = f"{r}.status = 'active'"
        return [
            (f'{r}.community_id', "''", "'pairings_active'", '0', f'{sign}1', active),
            (f'{r}.unit_id', "''", "'unit_pairings_active'", '0', f'{sign}1', active),
        ]
    assert table == 'volunteer_hours'
    minutes = (
        f'{r}.org_id',
        _month(f'{r}.started_at', dialect),
        "'approved_volunteer_minutes'",
        f'{r}.user_id % {MINUTE_PARTS}',
        f'{sign}{r}.minutes',
        f"{r}.status = 'approved'",
    )
    if not new:
        return [minutes]
    # Rules approved_volunteer_minutes and service_order_minutes.
    return [
        minutes,
        (
            *minutes[:2],
            "'service_order_minutes'",
            *minutes[3:5],
            f"{r}.status = 'approved' AND {r}.source = 'service_order'",
        ),
    ]


def _add(selects: list[str]) -> str:
    """Add the deltas of `selects` to the counts: one statement, rows in key order."""
    deltas = ' UNION ALL '.join(selects)
    return (
        f'INSERT INTO fact_counts ({KEY}, n) '
        f'SELECT {KEY}, SUM(n) FROM ({deltas}) AS d '
        'WHERE org_id IS NOT NULL AND period IS NOT NULL '
        f'GROUP BY {KEY} HAVING SUM(n) <> 0 ORDER BY {KEY} '
        f'ON CONFLICT ({KEY}) DO UPDATE SET n = fact_counts.n + excluded.n'
    )


def _selects(
    table: str, r: str, sign: str, dialect: str, source: str = '', *, new: bool = True
) -> list[str]:
    out = []
    for org, period, fact, part, n, condition in _rows(table, r, sign, dialect, new=new):
        where = f' WHERE {condition}' if condition else ''
        out.append(
            f'SELECT {org} AS org_id, {period} AS period, {fact} AS fact, '
            f'{part} AS part, {n} AS n{source}{where}'
        )
    return out


# table -> the columns that move its counts (as of this revision, and before it).
COLUMNS = {
    'volunteer_hours': ('org_id', 'started_at', 'status', 'minutes', 'user_id', 'source'),
    'pairings': ('community_id', 'unit_id', 'status'),
}
OLD_COLUMNS = {'volunteer_hours': ('org_id', 'started_at', 'status', 'minutes', 'user_id')}


def _changed(columns: tuple[str, ...], differ: str) -> str:
    return ' OR '.join(f'OLD.{c} {differ} NEW.{c}' for c in columns)


def _create_triggers(table: str, columns: tuple[str, ...], dialect: str, *, new: bool) -> None:
    """The triggers keeping `table`'s facts, named as e5a4c2b6d005 names them."""
    removed = _add(_selects(table, 'OLD', '-', dialect, new=new))
    added = _add(_selects(table, 'NEW', '', dialect, new=new))
    moved = _add(
        _selects(table, 'OLD', '-', dialect, new=new) + _selects(table, 'NEW', '', dialect, new=new)
    )
    if dialect == 'postgresql':
        op.execute(
            f'CREATE OR REPLACE FUNCTION fact_counts_{table}() RETURNS trigger '
            'LANGUAGE plpgsql AS $$\n'
            f"BEGIN\nIF TG_OP = 'INSERT' THEN\n{added};\n"
            f"ELSIF TG_OP = 'DELETE' THEN\n{removed};\n"
            f'ELSE\n{moved};\nEND IF;\nRETURN NULL;\nEND\n$$'
        )
        op.execute(
            f'CREATE TRIGGER fact_counts_{table}_write AFTER INSERT OR DELETE ON {table} '
            f'FOR EACH ROW EXECUTE FUNCTION fact_counts_{table}()'
        )
        op.execute(
            f'CREATE TRIGGER fact_counts_{table}_update '
            f'AFTER UPDATE OF {", ".join(columns)} ON {table} FOR EACH ROW '
            f'WHEN ({_changed(columns, "IS DISTINCT FROM")}) '
            f'EXECUTE FUNCTION fact_counts_{table}()'
        )
        return
    for name, event, body in (
        ('insert', 'INSERT', added),
        ('delete', 'DELETE', removed),
        ('update', f'UPDATE OF {", ".join(columns)}', moved),
    ):
        when = f'WHEN {_changed(columns, "IS NOT")} ' if name == 'update' else ''
        op.execute(
            f'CREATE TRIGGER fact_counts_{table}_{name} AFTER {event} ON {table} '
            f'FOR EACH ROW {when}BEGIN\n{body};\nEND'
        )


def _drop_triggers(table: str, dialect: str) -> None:
    if dialect == 'postgresql':
        op.execute(f'DROP TRIGGER fact_counts_{table}_update ON {table}')
        op.execute(f'DROP TRIGGER fact_counts_{table}_write ON {table}')
        return
    for name in ('insert', 'delete', 'update'):
        op.execute(f'DROP TRIGGER fact_counts_{table}_{name}')


def upgrade() -> None:
    """Upgrade schema."""
    dialect = op.get_bind().dialect.name
    _drop_triggers('volunteer_hours', dialect)
    for table, columns in COLUMNS.items():
        _create_triggers(table, columns, dialect, new=True)
    # Backfill: the new facts only (approved_volunteer_minutes is kept already).
    op.execute(_add(_selects('pairings', 'r', '', dialect, ' FROM pairings r')))
    orders = _selects('volunteer_hours', 'r', '', dialect, ' FROM volunteer_hours r')[1]
    op.execute(_add([orders]))


def downgrade() -> None:
    """Downgrade schema."""
    dialect = op.get_bind().dialect.name
    for table in COLUMNS:
        _drop_triggers(table, dialect)
    if dialect == 'postgresql':
        op.execute('DROP FUNCTION fact_counts_pairings()')
    _create_triggers('volunteer_hours', OLD_COLUMNS['volunteer_hours'], dialect, new=False)
    op.execute(
        'DELETE FROM fact_counts WHERE fact IN '
        "('pairings_active', 'unit_pairings_active', 'service_order_minutes')"
    )
