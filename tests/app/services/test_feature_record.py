"""The feature API's fast path serves exactly the record the validated model would."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from app.schemas.features import FeatureDetail
from app.services.features import FeatureNotFound, feature_record_json, get_feature
from app.services.saes import find_sae
from tests.support.factories import SeededData


def test_the_fast_json_equals_the_validated_record(session: Session, seeded: SeededData) -> None:
    sae = find_sae(session, slug=seeded.sae_slug)
    for index in (seeded.rich_feature, seeded.pieces_feature, seeded.dead[0]):
        fast = json.loads(feature_record_json(session, slug=seeded.sae_slug, index=index))
        validated = get_feature(session, sae=sae, index=index)
        assert fast == json.loads(validated.model_dump_json())
        assert set(fast) == set(FeatureDetail.model_fields)


def test_the_rich_feature_is_complete(session: Session, seeded: SeededData) -> None:
    body = json.loads(feature_record_json(session, slug=seeded.sae_slug, index=seeded.rich_feature))
    assert body["histogram"] and body["explanations"] and body["neighbours"]
    assert body["top_examples"] and body["intervals"]
    assert "id" not in body["sae"]  # the SAE's row id stays internal


@pytest.mark.parametrize(
    ("slug", "index", "message"),
    [
        ("no-such-sae", 0, "There is no SAE named 'no-such-sae'."),
        ("test-sae", 40, "SAE 'test-sae' has 40 features (0 to 39); there is no feature 40."),
    ],
)
def test_unknown_sae_or_feature_is_said_in_words(
    session: Session, seeded: SeededData, slug: str, index: int, message: str
) -> None:
    with pytest.raises(FeatureNotFound, match=message.replace("(", r"\(").replace(")", r"\)")):
        feature_record_json(session, slug=slug, index=index)
