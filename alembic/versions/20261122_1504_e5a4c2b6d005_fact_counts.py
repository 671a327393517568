"""fact counts: the dashboards' record counts kept by triggers

Dashboards counted a subtree's check-ins, approved minutes, report-ins, wishes and
problems by status, problems found and articles by reading every record counted
(a dense district's month: 42,000 check-ins, 8,000 hour entries). `fact_counts`
keeps those numbers per (org, period, fact, part) (app/models/fact_counts.py),
exact in the writing transaction by triggers on the six tables, whatever code path
writes. Each trigger adds its deltas in one statement, in key order, so two
writers of the same rows lock them in the same order. The table is filled from the
existing rows here, before the triggers exist.

The statements are the same SQL on both databases but for the Shanghai month of a
timestamp (UTC+8 without summer time since 1991). On SQLite a table rebuilt by a
later batch migration loses its triggers: such a migration must create them again.

Revision ID: e5a4c2b6d005
Revises: d4f3b1a5c004
Create Date: 2026-11-22 15:04:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'e5a4c2b6d005'
down_revision: Union[str, Sequence[str], None] = 'd4f3b1a5c004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# app/models/fact_counts.MINUTE_PARTS, as of this revision.
MINUTE_PARTS = 16
KEY = 'org_id, period, fact, part'


def _month(column: str, dialect: str) -> str:
    if dialect == 'postgresql':
        return f"to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
    return f"strftime('%Y-%m', {column}, '+8 hours')"


def _rows(table: str, r: str, sign: str, dialect: str) -> list[tuple[str, str, str, str, str, str]]:
    """What one row `r` of `table` counts: (org, period, fact, part, n, condition)."""
    one = f'{sign}1'
    month = lambda column: _month(f'{r}.{column}', dialect)  # noqa: E731
    if table == 'check_ins':
        return [(f'{r}.org_id', month('checked_in_at'), "'check_ins'", f'{r}.task_id', one, '')]
    if table == 'volunteer_hours':
        return [(
            f'{r}.org_id',
            month('started_at'),
            "'approved_volunteer_minutes'",
            f'{r}.user_id % {MINUTE_PARTS}',
            f'{sign}{r}.minutes',
            f"{r}.status = 'approved'",
        )]
    if table == 'report_ins':
        return [(f'{r}.community_id', f'{r}.month', "'report_ins'", '0', one, '')]
    if table == 'wishes':
        return [(f'{r}.community_id', "''", f"'wishes_' || {r}.status", '0', one, '')]
    if table == 'problems':
        return [
            (f'{r}.org_id', "''", f"'problems_' || {r}.status", '0', one, ''),
            (f'{r}.org_id', month('created_at'), "'problems_found'", '0', one, ''),
            (
                f'{r}.org_id',
                month('created_at'),
                "'problems_found_closed'",
                '0',
                one,
                f"{r}.status = 'closed'",
            ),
        ]
    assert table == 'articles'
    return [
        (f'{r}.org_id', month('first_submitted_at'), "'articles_submitted'", '0', one, ''),
        (f'{r}.org_id', month('published_at'), "'articles_published'", '0', one, ''),
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


def _selects(table: str, r: str, sign: str, dialect: str, source: str = '') -> list[str]:
    out = []
    for org, period, fact, part, n, condition in _rows(table, r, sign, dialect):
        where = f' WHERE {condition}' if condition else ''
        out.append(
            f'SELECT {org} AS org_id, {period} AS period, {fact} AS fact, '
            f'{part} AS part, {n} AS n{source}{where}'
        )
    return out


# table -> the columns that move its counts. Each table's triggers keep the counting
# rules of the facts named beside it (what `_rows` writes for one of its rows); the
# rules are stated once, for readers, in app/models/fact_counts.py ("The counting
# rules").
TABLES = {
    # Rule check_ins.
    'check_ins': ('org_id', 'checked_in_at', 'task_id'),
    # Rule approved_volunteer_minutes.
    'volunteer_hours': ('org_id', 'started_at', 'status', 'minutes', 'user_id'),
    # Rule report_ins.
    'report_ins': ('community_id', 'month'),
    # Rules wishes_<status>.
    'wishes': ('community_id', 'status'),
    # Rules problems_<status>, problems_found and problems_found_closed.
    'problems': ('org_id', 'status', 'created_at'),
    # Rules articles_submitted and articles_published.
    'articles': ('org_id', 'first_submitted_at', 'published_at'),
}


def _changed(columns: tuple[str, ...], differ: str) -> str:
    return ' OR '.join(f'OLD.{c} {differ} NEW.{c}' for c in columns)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'fact_counts',
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('fact', sa.String(length=40), nullable=False),
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('org_id', 'period', 'fact', 'part'),
    )
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        op.execute(_add(_selects(table, 'r', '', dialect, f' FROM {table} r')))

    for table, columns in TABLES.items():
        removed = _add(_selects(table, 'OLD', '-', dialect))
        added = _add(_selects(table, 'NEW', '', dialect))
        moved = _add(_selects(table, 'OLD', '-', dialect) + _selects(table, 'NEW', '', dialect))
        if dialect == 'postgresql':
            op.execute(
                f'CREATE FUNCTION fact_counts_{table}() RETURNS trigger LANGUAGE plpgsql AS $$\n'
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
        else:
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


def downgrade() -> None:
    """Downgrade schema."""
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        if dialect == 'postgresql':
            op.execute(f'DROP TRIGGER fact_counts_{table}_update ON {table}')
            op.execute(f'DROP TRIGGER fact_counts_{table}_write ON {table}')
            op.execute(f'DROP FUNCTION fact_counts_{table}()')
        else:
            for name in ('insert', 'delete', 'update'):
                op.execute(f'DROP TRIGGER fact_counts_{table}_{name}')
    op.drop_table('fact_counts')
