"""survey answers as rows; a video's duration

Issue 22: survey_answers, one row per option chosen and per scale or text answer of
every response, so that a survey's figures are counted by the database (GROUP BY)
instead of by reading each response's JSON; filled from the responses kept so far.
Issue 23: media.duration_s, a video's length as read at upload (NULL for photos,
documents and videos uploaded before: their files are not read again here).

Revision ID: a7c41e9d2b15
Revises: e9a3af1f155a
Create Date: 2026-12-06 00:30:00.000000+00:00

"""
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'a7c41e9d2b15'
down_revision: Union[str, Sequence[str], None] = 'e9a3af1f155a'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NO_CHOICE = -1  # app/models/survey.NO_CHOICE
_BATCH = 1000


def _rows_of(
    kind: str, questions: list[dict[str, Any]], response_id: int, survey_id: int,
    answers: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """As app/services/surveys.answer_rows, written out here: a migration keeps
    meaning what it meant when it ran, whatever the app's code becomes."""
    keys = (
        {i: sorted(q["answer"]) for i, q in enumerate(questions) if q.get("answer")}
        if kind == "quiz"
        else {}
    )
    rows = []
    for a in answers:
        i = a["question_id"]
        key = keys.get(i)
        base = {
            "response_id": response_id,
            "survey_id": survey_id,
            "question_id": i,
            "correct": None if key is None else a.get("choices") == key,
        }
        if "choices" in a:
            rows += [{**base, "choice": c, "scale": None} for c in a["choices"]]
        else:
            rows.append({**base, "choice": NO_CHOICE, "scale": a.get("scale")})
    return rows


def upgrade() -> None:
    """Upgrade schema."""
    answers = op.create_table('survey_answers',
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.Integer(), nullable=False),
    sa.Column('scale', sa.Integer(), nullable=True),
    sa.Column('correct', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['response_id'], ['survey_responses.id'], name=op.f('fk_survey_answers_response_id_survey_responses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_answers_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('response_id', 'question_id', 'choice', name=op.f('pk_survey_answers'))
    )
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.create_index('ix_survey_answers_survey_question', ['survey_id', 'question_id', 'choice'], unique=False)

    # A plain ADD COLUMN: SQLite needs no rebuild of media for it.
    op.add_column('media', sa.Column('duration_s', sa.Float(), nullable=True))

    conn = op.get_bind()
    surveys = sa.table(
        'surveys', sa.column('id', sa.Integer), sa.column('kind', sa.String),
        sa.column('questions', sa.JSON),
    )
    responses = sa.table(
        'survey_responses', sa.column('id', sa.Integer), sa.column('survey_id', sa.Integer),
        sa.column('answers', sa.JSON),
    )
    for survey_id, kind, questions in conn.execute(sa.select(surveys)).all():
        rows: list[dict[str, Any]] = []
        found = conn.execute(
            sa.select(responses.c.id, responses.c.answers)
            .where(responses.c.survey_id == survey_id)
            .order_by(responses.c.id)
        )
        for response_id, given in found:
            rows += _rows_of(kind, questions, response_id, survey_id, given)
            if len(rows) >= _BATCH:
                conn.execute(answers.insert(), rows)
                rows = []
        if rows:
            conn.execute(answers.insert(), rows)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table(
        'media', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_column('duration_s')
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_answers_survey_question')

    op.drop_table('survey_answers')
