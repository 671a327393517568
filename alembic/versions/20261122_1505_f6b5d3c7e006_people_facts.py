"""people facts: the dashboards' head counts summed per org

people_counts keeps the head counts per home pair (community, unit), so that
someone whose community and unit both lie in a subtree counts once. A subtree's
pairs grow with its people (a dense district: about 5,000 pairs a period, 8 ms to
read). This revision adds the same numbers to fact_counts per org, by inclusion
and exclusion: a pair's people count +1 at their community, +1 at their unit and
-1 at the nearest org holding both (the pair's lowest common ancestor), so summing
any subtree's orgs counts each person once, and each child of a ranking counts
everyone with a home in it. Facts: members, party_members (period ''),
party_members_reported ('YYYY-MM'), wish_quota_claimed ('YYYY').

A trigger on people_counts carries every change of a pair into fact_counts in one
statement, rows in key order; the table is filled from people_counts here.

A report or a claim now moves up to three rows at once, which a roster change
(many rows, many statements) could take in the opposite order. On PostgreSQL the
trigger therefore first takes the roster lock shared: reports and claims still run
side by side, but never while a roster change holds it exclusively
(app/services/people_counts.py takes it before the person's row, the trigger again
as a net).

The lowest common ancestor is found through the parent links of the community, four
levels up: the tree is district / street / community, with units under a street or
a district (app/services/orgs.py).

Revision ID: f6b5d3c7e006
Revises: e5a4c2b6d005
Create Date: 2026-11-22 15:05:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'f6b5d3c7e006'
down_revision: Union[str, Sequence[str], None] = 'e5a4c2b6d005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# app/services/people_counts.ROSTER_LOCK, as of this revision.
ROSTER_LOCK = 7020501
# people_counts column -> fact. The trigger on people_counts keeps the counting rules
# of these four facts (a pair's people +1 at its community, +1 at its unit, -1 at the
# org holding both), stated once, for readers, in app/models/fact_counts.py ("The
# counting rules"); what a pair counts is people_counts' rules
# (app/models/people_counts.py).
PEOPLE = {
    'members': 'members',
    'party_members': 'party_members',
    'reported': 'party_members_reported',
    'claimed': 'wish_quota_claimed',
}
KEY = 'org_id, period, fact, part'


def _lca(r: str) -> str:
    """The nearest org whose subtree holds both the community and the unit of `r`."""
    levels = range(4)
    cases = ' '.join(
        f'WHEN substr(u.path, 1, length(a{i}.path)) = a{i}.path THEN a{i}.id' for i in levels
    )
    parents = ' '.join(
        f'LEFT JOIN orgs a{i} ON a{i}.id = a{i - 1}.parent_id' for i in levels if i
    )
    return (
        f'(SELECT CASE {cases} END FROM orgs a0 JOIN orgs u ON u.id = {r}.unit_id '
        f'{parents} WHERE a0.id = {r}.community_id)'
    )


def _selects(r: str, sign: str, source: str = '') -> list[str]:
    """What the pair row `r` adds to fact_counts (sign '') or takes away ('-')."""
    other = '' if sign == '-' else '-'
    out = []
    for column, fact in PEOPLE.items():
        for org, s, where in (
            (f'{r}.community_id', sign, f'{r}.community_id <> 0'),
            (f'{r}.unit_id', sign, f'{r}.unit_id <> 0'),
            (_lca(r), other, f'{r}.community_id <> 0 AND {r}.unit_id <> 0'),
        ):
            out.append(
                f"SELECT {org} AS org_id, {r}.period AS period, '{fact}' AS fact, "
                f'0 AS part, {s}{r}.{column} AS n{source} WHERE {where}'
            )
    return out


def _add(selects: list[str]) -> str:
    """Add the deltas of `selects` to the counts: one statement, rows in key order."""
    deltas = ' UNION ALL '.join(selects)
    return (
        f'INSERT INTO fact_counts ({KEY}, n) '
        f'SELECT {KEY}, SUM(n) FROM ({deltas}) AS d '
        'WHERE org_id IS NOT NULL '
        f'GROUP BY {KEY} HAVING SUM(n) <> 0 ORDER BY {KEY} '
        f'ON CONFLICT ({KEY}) DO UPDATE SET n = fact_counts.n + excluded.n'
    )


COLUMNS = ('period', 'community_id', 'unit_id', *PEOPLE)


def _changed(differ: str) -> str:
    return ' OR '.join(f'OLD.{c} {differ} NEW.{c}' for c in COLUMNS)


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(_add(_selects('r', '', ' FROM people_counts r')))

    removed = _add(_selects('OLD', '-'))
    added = _add(_selects('NEW', ''))
    moved = _add(_selects('OLD', '-') + _selects('NEW', ''))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            'CREATE FUNCTION fact_counts_people_counts() RETURNS trigger LANGUAGE plpgsql AS $$\n'
            f'BEGIN\nPERFORM pg_advisory_xact_lock_shared({ROSTER_LOCK});\n'
            f"IF TG_OP = 'INSERT' THEN\n{added};\n"
            f"ELSIF TG_OP = 'DELETE' THEN\n{removed};\n"
            f'ELSE\n{moved};\nEND IF;\nRETURN NULL;\nEND\n$$'
        )
        op.execute(
            'CREATE TRIGGER fact_counts_people_counts_write AFTER INSERT OR DELETE '
            'ON people_counts FOR EACH ROW EXECUTE FUNCTION fact_counts_people_counts()'
        )
        op.execute(
            'CREATE TRIGGER fact_counts_people_counts_update '
            f'AFTER UPDATE OF {", ".join(COLUMNS)} ON people_counts FOR EACH ROW '
            f'WHEN ({_changed("IS DISTINCT FROM")}) '
            'EXECUTE FUNCTION fact_counts_people_counts()'
        )
    else:
        for name, event, body in (
            ('insert', 'INSERT', added),
            ('delete', 'DELETE', removed),
            ('update', f'UPDATE OF {", ".join(COLUMNS)}', moved),
        ):
            when = f'WHEN {_changed("IS NOT")} ' if name == 'update' else ''
            op.execute(
                f'CREATE TRIGGER fact_counts_people_counts_{name} AFTER {event} ON people_counts '
                f'FOR EACH ROW {when}BEGIN\n{body};\nEND'
            )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER fact_counts_people_counts_update ON people_counts')
        op.execute('DROP TRIGGER fact_counts_people_counts_write ON people_counts')
        op.execute('DROP FUNCTION fact_counts_people_counts()')
    else:
        for name in ('insert', 'delete', 'update'):
            op.execute(f'DROP TRIGGER fact_counts_people_counts_{name}')
    facts = ', '.join(f"'{fact}'" for fact in PEOPLE.values())
    op.execute(f'DELETE FROM fact_counts WHERE fact IN ({facts})')
