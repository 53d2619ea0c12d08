"""survey templates, scheduled surveys by kind, reminders, cancellations, customers' segments

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 09:00:00

Surveys before this revision were sent at once and asked csat, nps (both required) and a comment:
they become sent `ticket` surveys pinned to version 1 of the `ticket` template, which holds those
questions, so one still open is answered as it was sent. Version 2, the current one, asks what
SPEC §3 asks of a ticket survey: satisfaction 1-5 and an optional comment.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CSAT: dict[str, Any] = {
    "id": "csat",
    "kind": "scale",
    "prompt": "How satisfied are you with how we handled your problem?",
    "required": True,
    "min": 1,
    "max": 5,
}
COMMENT: dict[str, Any] = {
    "id": "comment",
    "kind": "text",
    "prompt": "Is there anything we could have done better?",
    "required": False,
    "max_length": 2000,
}
NPS: dict[str, Any] = {
    "id": "nps",
    "kind": "scale",
    "prompt": "How likely are you to recommend us to a friend or colleague?",
    "required": True,
    "min": 0,
    "max": 10,
}


def _dimension(question_id: str, prompt: str) -> dict[str, Any]:
    return {"id": question_id, "kind": "scale", "prompt": prompt, "required": True, "min": 1, "max": 10}


# (template id, version, name, questions); the last version of each template is its current one.
SEEDS: list[tuple[str, int, str, list[dict[str, Any]]]] = [
    ("ticket", 1, "Ticket survey (before templates)", [CSAT, NPS, COMMENT]),
    ("ticket", 2, "Ticket survey", [CSAT, COMMENT]),
    (
        "relationship",
        1,
        "Relationship survey",
        [
            _dimension("quality", "How would you rate the quality of our products and service?"),
            _dimension("response_speed", "How would you rate how quickly we respond to you?"),
            _dimension("resolution", "How well do we solve the problems you bring us?"),
            _dimension("care", "How well do we look after you?"),
            _dimension("overall", "Overall, how satisfied are you with us?"),
            NPS,
            {
                "id": "nps_reason",
                "kind": "text",
                "prompt": "What is the main reason for your score?",
                "required": False,
                "max_length": 2000,
                "prompt_when_high": "Why would you recommend us?",
                "prompt_when_low": "Why would you not recommend us?",
            },
            {
                "id": "suggestions",
                "kind": "text",
                "prompt": "What could we do better?",
                "required": False,
                "max_length": 2000,
            },
            {
                "id": "contact_ok",
                "kind": "yes_no",
                "prompt": "May we contact you about your answers?",
                "required": False,
            },
        ],
    ),
]


def upgrade() -> None:
    templates = op.create_table(
        "survey_templates",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_templates")),
    )
    versions = op.create_table(
        "survey_template_versions",
        sa.Column("template_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("questions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["survey_templates.id"],
            name=op.f("fk_survey_template_versions_template_id_survey_templates"),
        ),
        sa.PrimaryKeyConstraint("template_id", "version", name=op.f("pk_survey_template_versions")),
    )
    now = sa.func.now()
    current = {template_id: (version, name) for template_id, version, name, _ in SEEDS}
    op.execute(
        templates.insert().values(
            [
                {"id": t, "name": name, "version": v, "updated_at": now, "updated_by": "migration"}
                for t, (v, name) in current.items()
            ]
        )
    )
    op.execute(
        versions.insert().values(
            [
                {
                    "template_id": t,
                    "version": v,
                    "name": n,
                    "questions": q,
                    "created_at": now,
                    "created_by": "migration",
                }
                for t, v, n, q in SEEDS
            ]
        )
    )

    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("segment", sa.String(length=50), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_since", sa.Date(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("preferred_channel", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_table(
        "reopened_tickets",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_reopened_tickets")),
    )

    # Surveys: from one per ticket, sent at once, to scheduled surveys of three kinds.
    op.drop_constraint(op.f("uq_surveys_ticket_id"), "surveys", type_="unique")
    op.drop_constraint(op.f("ck_surveys_answer_complete"), "surveys", type_="check")
    op.drop_index("ix_surveys_undelivered", table_name="surveys")
    op.alter_column("surveys", "ticket_id", existing_type=sa.Uuid(), nullable=True)
    op.alter_column("surveys", "ticket_number", existing_type=sa.String(length=64), nullable=True)
    for column in (
        sa.Column("kind", sa.String(length=20), server_default="ticket", nullable=False),
        sa.Column("template_id", sa.String(length=40), server_default="ticket", nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period", sa.String(length=20), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=40), nullable=True),
        sa.Column("answers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("reminder_delivered_at", sa.DateTime(timezone=True), nullable=True),
    ):
        op.add_column("surveys", column)
    # They were created at resolution and sent at once, asking version 1's questions. One still
    # open and unanswered is reminded like any other.
    op.execute(
        """
        UPDATE surveys SET
            resolved_at = created_at, due_at = created_at, sent_at = created_at, template_version = 1,
            answers = CASE WHEN answered_at IS NULL THEN NULL ELSE jsonb_strip_nulls(
                jsonb_build_object('csat', csat, 'nps', nps, 'comment', comment)) END
        """
    )
    op.alter_column("surveys", "kind", server_default=None)
    op.alter_column("surveys", "template_id", server_default=None)
    op.alter_column("surveys", "due_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.drop_column("surveys", "comment")
    op.create_check_constraint(
        op.f("ck_surveys_kind_known"), "surveys", "kind IN ('ticket', 'onboarding', 'quarterly')"
    )
    op.create_check_constraint(
        op.f("ck_surveys_ticket_or_period"),
        "surveys",
        "(kind = 'ticket') = (ticket_id IS NOT NULL AND resolved_at IS NOT NULL AND period IS NULL)",
    )
    op.create_check_constraint(
        op.f("ck_surveys_answer_complete"), "surveys", "(answered_at IS NULL) = (answers IS NULL)"
    )
    op.create_check_constraint(
        op.f("ck_surveys_answered_when_sent"), "surveys", "answered_at IS NULL OR sent_at IS NOT NULL"
    )
    op.create_check_constraint(
        op.f("ck_surveys_version_pinned_when_sent"), "surveys", "(sent_at IS NULL) = (template_version IS NULL)"
    )
    op.create_unique_constraint(op.f("uq_surveys_ticket_resolution"), "surveys", ["ticket_id", "resolved_at"])
    op.create_unique_constraint(op.f("uq_surveys_customer_period"), "surveys", ["customer_id", "kind", "period"])
    op.create_index(
        "ix_surveys_due", "surveys", ["due_at"], postgresql_where=sa.text("sent_at IS NULL AND cancelled_at IS NULL")
    )
    op.create_index(
        "ix_surveys_unreminded",
        "surveys",
        ["sent_at"],
        postgresql_where=sa.text("reminded_at IS NULL AND answered_at IS NULL AND cancelled_at IS NULL"),
    )
    op.create_index(
        "ix_surveys_undelivered",
        "surveys",
        ["id"],
        postgresql_where=sa.text(
            "sent_at IS NOT NULL AND (delivered_at IS NULL OR "
            "(reminded_at IS NOT NULL AND reminder_delivered_at IS NULL))"
        ),
    )
    op.create_index("ix_surveys_customer_id", "surveys", ["customer_id", "id"])


def downgrade() -> None:
    # Only ticket surveys existed before; relationship surveys cannot be kept.
    op.execute("DELETE FROM surveys WHERE kind <> 'ticket'")
    # Scheduled ones never went out: before this revision they would have been sent, so send
    # them now (the old schema has no other state for them).
    op.execute("UPDATE surveys SET sent_at = coalesce(sent_at, created_at)")
    op.drop_index("ix_surveys_customer_id", table_name="surveys")
    op.drop_index("ix_surveys_undelivered", table_name="surveys")
    op.drop_index("ix_surveys_unreminded", table_name="surveys")
    op.drop_index("ix_surveys_due", table_name="surveys")
    op.drop_constraint(op.f("uq_surveys_customer_period"), "surveys", type_="unique")
    op.drop_constraint(op.f("uq_surveys_ticket_resolution"), "surveys", type_="unique")
    for name in ("version_pinned_when_sent", "answered_when_sent", "answer_complete", "ticket_or_period", "kind_known"):
        op.drop_constraint(op.f(f"ck_surveys_{name}"), "surveys", type_="check")
    op.add_column("surveys", sa.Column("comment", sa.Text(), nullable=True))
    # The old schema holds one survey per ticket with csat and nps both set on an answer.
    op.execute(
        """
        DELETE FROM surveys s USING surveys newer
        WHERE s.ticket_id = newer.ticket_id AND (s.resolved_at, s.id) < (newer.resolved_at, newer.id)
        """
    )
    op.execute(
        """
        UPDATE surveys SET comment = answers ->> 'comment',
            answered_at = CASE WHEN csat IS NULL OR nps IS NULL THEN NULL ELSE answered_at END,
            csat = CASE WHEN csat IS NULL OR nps IS NULL THEN NULL ELSE csat END,
            nps = CASE WHEN csat IS NULL OR nps IS NULL THEN NULL ELSE nps END
        """
    )
    for column in (
        "reminder_delivered_at",
        "answers",
        "cancel_reason",
        "cancelled_at",
        "reminded_at",
        "sent_at",
        "due_at",
        "channel",
        "period",
        "resolved_at",
        "category",
        "template_version",
        "template_id",
        "kind",
    ):
        op.drop_column("surveys", column)
    op.alter_column("surveys", "ticket_number", existing_type=sa.String(length=64), nullable=False)
    op.alter_column("surveys", "ticket_id", existing_type=sa.Uuid(), nullable=False)
    op.create_check_constraint(
        op.f("ck_surveys_answer_complete"),
        "surveys",
        "(answered_at IS NULL) = (csat IS NULL) AND (answered_at IS NULL) = (nps IS NULL)",
    )
    op.create_unique_constraint(op.f("uq_surveys_ticket_id"), "surveys", ["ticket_id"])
    op.create_index(
        "ix_surveys_undelivered", "surveys", ["id"], unique=False, postgresql_where=sa.text("delivered_at IS NULL")
    )
    op.drop_table("reopened_tickets")
    op.drop_table("customers")
    op.drop_table("survey_template_versions")
    op.drop_table("survey_templates")
