"""Review test data: an SAE with scored labels, reviewer accounts, campaigns over the SAE,
reviewers' answers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.schemas.review import Answer, CampaignSpec, ExplicitSelection
from app.services import review
from db.aggregates import refresh_sae_aggregates
from db.labels import refresh_primary_labels
from db.models import Sae, User
from tests.support.factories import make_explanation, make_feature, make_sae


def labelled_sae(session: Session, slug: str = "review-sae", n: int = 12) -> Sae:
    """An SAE whose features 0..n-1 carry the LLM label 'finding {i}' with F1 = 0.5 + i / 100."""
    sae = make_sae(session, slug, d_sae=n)
    for index in range(n):
        feature = make_feature(session, sae, index, frequency=0.001 * (index + 1))
        make_explanation(
            session, feature, f"finding {index}", heldout_f1=0.5 + index / 100, source_key="llm:t"
        )
    refresh_primary_labels(session, sae.id)
    refresh_sae_aggregates(session, sae.id)
    return sae


def make_reviewers(session: Session, *numbers: int) -> dict[int, int]:
    """Reviewer accounts for a test's reviewer numbers (number -> user id), their ids in the
    order of the numbers, so what goes by id (pseudonyms R1, R2, ..., ties) follows them."""
    ids = {}
    for number in sorted(numbers):
        user = User(name=f"reviewer-{number}", role="reviewer", password_hash="!")
        session.add(user)
        session.flush()
        ids[number] = user.id
    return ids


def campaign(
    session: Session,
    sae: Sae,
    indices: Sequence[int],
    *,
    blinded: bool,
    reviewers: int = 3,
) -> int:
    """A campaign over `indices`, each rated by `reviewers` reviewers; its id."""
    spec = CampaignSpec(
        name="Outcomes",
        selection=ExplicitSelection(indices=list(indices)),
        label_source="llm:t",
        reviewers_per_feature=reviewers,
        overlap_size=0,
        blinded=blinded,
        decoy_share=0.0,
    )
    return review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=None).id


def answer_all(
    session: Session, campaign_id: int, reviewer: int, answers: dict[int, Answer]
) -> None:
    """The reviewer answers every item served: `answers[feature index]`, or a 3."""
    while item := review.next_item(session, campaign_id=campaign_id, reviewer_id=reviewer):
        review.rate(
            session,
            campaign_id=campaign_id,
            item_id=item.item_id,
            reviewer_id=reviewer,
            answer=answers.get(item.feature_index, Answer(rating=3)),
        )
