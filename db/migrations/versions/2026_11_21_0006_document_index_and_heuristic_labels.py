"""Index examples by document; allow rule-based ('heuristic') explanations.

Deleting or replacing a corpus deletes its documents, whose examples are found through the
foreign key on examples.document_id: without an index that is a full scan per document. The
demo's keyword labels come from a rule, not an LLM, a person or a CSV, and now say so.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_examples_document", "examples", ["document_id"])
    op.drop_constraint(op.f("ck_explanations_source"), "explanations", type_="check")
    op.create_check_constraint(
        op.f("ck_explanations_source"),
        "explanations",
        "source IN ('csv', 'llm', 'human', 'heuristic')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM explanations WHERE source = 'heuristic'")
    op.drop_constraint(op.f("ck_explanations_source"), "explanations", type_="check")
    op.create_check_constraint(
        op.f("ck_explanations_source"), "explanations", "source IN ('csv', 'llm', 'human')"
    )
    op.drop_index("ix_examples_document", table_name="examples")
