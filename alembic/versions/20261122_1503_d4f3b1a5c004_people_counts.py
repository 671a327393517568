"""people counts: the roster's head counts kept by triggers

The dashboards counted members, party members, who reported in a month and who kept
a wish claim in a year person by person (about 10 µs a party member; 0.4 s for a
district of 100,000 people). `people_counts` keeps those sums per period and home
pair (community_id, unit_id; 0 for none), and `wish_quota_claims` who kept a claim
in which year (maintained by the wishes service: the rule reads a wish's history).
Triggers on users, report_ins and wish_quota_claims keep the sums exact in the
writing transaction, whatever writes: moving someone's home or party membership
moves their reports and claims with them, as the dashboards' rules (current home)
require. Both tables are filled from the existing rows here.

The trigger bodies are the same SQL on both databases; PostgreSQL wraps them in
functions and first takes a share lock on the person's users row, so a report and
a move of the same person settle in order (the later one sees the earlier's rows).

Revision ID: d4f3b1a5c004
Revises: c3e2a0f4b003
Create Date: 2026-11-22 15:03:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'd4f3b1a5c004'
down_revision: Union[str, Sequence[str], None] = 'c3e2a0f4b003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COUNTS = ('members', 'party_members', 'reported', 'claimed')
# app/services/people_counts.ROSTER_LOCK, as of this revision.
ROSTER_LOCK = 7020501


def _bump(select: str) -> str:
    """Add `select`'s rows (period, community, unit, then the four deltas) to the sums."""
    sets = ', '.join(f'{c} = people_counts.{c} + excluded.{c}' for c in COUNTS)
    return (
        f'INSERT INTO people_counts (period, community_id, unit_id, {", ".join(COUNTS)}) '
        f'{select} ON CONFLICT (period, community_id, unit_id) DO UPDATE SET {sets}'
    )


def _home(ref: str) -> str:
    return f'COALESCE({ref}.community_id, 0), COALESCE({ref}.unit_id, 0)'


def _on_roster(ref: str) -> str:
    return f'({ref}.community_id IS NOT NULL OR {ref}.unit_id IS NOT NULL)'


def _person(ref: str, sign: str) -> list[str]:
    """A person's whole contribution: on the roster, their reports, their kept claims."""
    party = f'CASE WHEN {ref}.is_party_member THEN 1 ELSE 0 END'
    return [
        _bump(f"SELECT '', {_home(ref)}, {sign}1, {sign}{party}, 0, 0 WHERE {_on_roster(ref)}"),
        _bump(
            f'SELECT r.month, {_home(ref)}, 0, 0, {sign}COUNT(*), 0 FROM report_ins r '
            f'WHERE r.user_id = {ref}.id AND {ref}.is_party_member AND {_on_roster(ref)} '
            'GROUP BY r.month'
        ),
        _bump(
            f'SELECT CAST(c.year AS TEXT), {_home(ref)}, 0, 0, 0, {sign}COUNT(*) '
            f'FROM wish_quota_claims c '
            f'WHERE c.user_id = {ref}.id AND {ref}.is_party_member AND {_on_roster(ref)} '
            'GROUP BY c.year'
        ),
    ]


def _fact(period: str, column: str, ref: str, sign: str) -> list[str]:
    """One report or kept claim of `ref`.user_id, counted at the person's home."""
    deltas = ', '.join(f'{sign}1' if c == column else '0' for c in COUNTS)
    return [
        _bump(
            f'SELECT {period}, {_home("u")}, {deltas} FROM users u '
            f'WHERE u.id = {ref}.user_id AND u.is_party_member AND {_on_roster("u")}'
        )
    ]


_USERS_CHANGED = (
    'OLD.community_id IS DISTINCT FROM NEW.community_id '
    'OR OLD.unit_id IS DISTINCT FROM NEW.unit_id '
    'OR OLD.is_party_member IS DISTINCT FROM NEW.is_party_member'
)

# table -> (statements for a removed OLD row, for an added NEW row, the UPDATE OF
# columns and the WHEN of the update trigger, the person's id for PostgreSQL's lock)
# Each table's triggers keep the counting rules named beside it; the rules are stated
# once, for readers, in app/models/people_counts.py ("The counting rules").
TRIGGERS = {
    # Rules members and party_members; and, as a person's home or party membership
    # changes, reported and claimed follow them to the new pair.
    'users': (
        _person('OLD', '-'),
        _person('NEW', ''),
        'community_id, unit_id, is_party_member',
        _USERS_CHANGED,
        None,  # the row itself is being written: already locked
    ),
    # Rule reported: a party member's report-in of a month, at their home pair.
    'report_ins': (
        _fact('OLD.month', 'reported', 'OLD', '-'),
        _fact('NEW.month', 'reported', 'NEW', ''),
        'user_id, month',
        'OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.month IS DISTINCT FROM NEW.month',
        'user_id',
    ),
    # Rule claimed: a party member's kept claim of a year, at their home pair.
    'wish_quota_claims': (
        _fact('CAST(OLD.year AS TEXT)', 'claimed', 'OLD', '-'),
        _fact('CAST(NEW.year AS TEXT)', 'claimed', 'NEW', ''),
        'user_id, year',
        'OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.year IS DISTINCT FROM NEW.year',
        'user_id',
    ),
}


def _create_postgresql_triggers() -> None:
    for table, (removed, added, columns, changed, person) in TRIGGERS.items():
        def block(ref: str, statements: list[str]) -> str:
            sql = ''.join(f'{s};\n' for s in statements)
            if person is None:
                # Roster changes move several sums at once: they take turns (one
                # advisory lock, app/services/people_counts.py), so two never lock
                # sums in opposite orders. Only someone on the roster has sums: a
                # first WeChat login (no home yet) neither waits nor writes.
                return (
                    f'IF {_on_roster(ref)} THEN\n'
                    f'PERFORM pg_advisory_xact_lock({ROSTER_LOCK});\n{sql}END IF;\n'
                )
            # Reports and claims move one sum each and need no turn; the person's
            # row, shared, orders them against a move of that person.
            return f'PERFORM 1 FROM users WHERE id = {ref}.{person} FOR SHARE;\n{sql}'

        body = (
            "IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
            + block('OLD', removed)
            + "END IF;\nIF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
            + block('NEW', added)
            + 'END IF;\nRETURN NULL;'
        )
        op.execute(
            f'CREATE FUNCTION people_counts_{table}() RETURNS trigger LANGUAGE plpgsql AS $$\n'
            f'BEGIN\n{body}\nEND\n$$'
        )
        op.execute(
            f'CREATE TRIGGER people_counts_{table}_write AFTER INSERT OR DELETE ON {table} '
            f'FOR EACH ROW EXECUTE FUNCTION people_counts_{table}()'
        )
        op.execute(
            f'CREATE TRIGGER people_counts_{table}_update AFTER UPDATE OF {columns} ON {table} '
            f'FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION people_counts_{table}()'
        )


def _create_sqlite_triggers() -> None:
    for table, (removed, added, columns, changed, _) in TRIGGERS.items():
        def trigger(name: str, event: str, statements: list[str], when: str = '') -> None:
            body = ''.join(f'{s};\n' for s in statements)
            op.execute(
                f'CREATE TRIGGER people_counts_{table}_{name} AFTER {event} ON {table} '
                f'FOR EACH ROW {when}BEGIN\n{body}END'
            )

        trigger('insert', 'INSERT', added)
        trigger('delete', 'DELETE', removed)
        sqlite_changed = changed.replace('IS DISTINCT FROM', 'IS NOT')
        trigger('update', f'UPDATE OF {columns}', removed + added, f'WHEN {sqlite_changed} ')


def _kept_claims_select(dialect: str) -> str:
    """Who kept a claim in which Shanghai year: app/services/wishes.kept_claimers, as of
    this revision. Shanghai has kept UTC+8 without summer time since 1991."""
    if dialect == 'postgresql':
        year = "CAST(EXTRACT(YEAR FROM c.at AT TIME ZONE 'Asia/Shanghai') AS INTEGER)"
    else:
        year = "CAST(strftime('%Y', c.at, '+8 hours') AS INTEGER)"
    return (
        f'SELECT DISTINCT c.actor_id, {year} FROM wish_events c '
        "WHERE c.action = 'claim' AND NOT EXISTS ("
        ' SELECT 1 FROM wish_events e WHERE e.wish_id = c.wish_id AND e.id > c.id'
        " AND e.from_status = 'claimed' AND e.action IN ('release', 'cancel')"
        ' AND NOT EXISTS (SELECT 1 FROM wish_events r WHERE r.wish_id = c.wish_id'
        "  AND r.action = 'claim' AND r.id > c.id AND r.id < e.id))"
    )


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'people_counts',
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('members', sa.Integer(), nullable=False),
        sa.Column('party_members', sa.Integer(), nullable=False),
        sa.Column('reported', sa.Integer(), nullable=False),
        sa.Column('claimed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('community_id', 'period', 'unit_id'),
    )
    with op.batch_alter_table('people_counts', schema=None) as batch_op:
        batch_op.create_index(
            'ix_people_counts_unit_period', ['unit_id', 'period', 'community_id'], unique=False
        )
    op.create_table(
        'wish_quota_claims',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('user_id', 'year'),
    )

    dialect = op.get_bind().dialect.name
    # Filled before the triggers exist, each sum by one grouped statement.
    op.execute(f'INSERT INTO wish_quota_claims (user_id, year) {_kept_claims_select(dialect)}')
    party = 'CASE WHEN u.is_party_member THEN 1 ELSE 0 END'
    grouped = 'GROUP BY COALESCE(u.community_id, 0), COALESCE(u.unit_id, 0)'
    op.execute(
        _bump(
            f"SELECT '', {_home('u')}, COUNT(*), SUM({party}), 0, 0 FROM users u "
            f'WHERE {_on_roster("u")} {grouped}'
        )
    )
    op.execute(
        _bump(
            f'SELECT r.month, {_home("u")}, 0, 0, COUNT(*), 0 '
            'FROM report_ins r JOIN users u ON u.id = r.user_id '
            f'WHERE u.is_party_member AND {_on_roster("u")} {grouped}, r.month'
        )
    )
    op.execute(
        _bump(
            f'SELECT CAST(c.year AS TEXT), {_home("u")}, 0, 0, 0, COUNT(*) '
            'FROM wish_quota_claims c JOIN users u ON u.id = c.user_id '
            f'WHERE u.is_party_member AND {_on_roster("u")} {grouped}, c.year'
        )
    )

    if dialect == 'postgresql':
        _create_postgresql_triggers()
    else:
        _create_sqlite_triggers()


def downgrade() -> None:
    """Downgrade schema."""
    dialect = op.get_bind().dialect.name
    for table in TRIGGERS:
        if dialect == 'postgresql':
            op.execute(f'DROP TRIGGER people_counts_{table}_update ON {table}')
            op.execute(f'DROP TRIGGER people_counts_{table}_write ON {table}')
            op.execute(f'DROP FUNCTION people_counts_{table}()')
        else:
            for name in ('insert', 'delete', 'update'):
                op.execute(f'DROP TRIGGER people_counts_{table}_{name}')
    op.drop_table('wish_quota_claims')
    with op.batch_alter_table('people_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_people_counts_unit_period')
    op.drop_table('people_counts')
