"""The feature API's fast path serves exactly the record the validated model would."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from app.schemas.features import FeatureDetail
from app.services.features import FeatureNotFound, feature_by_slug, feature_json, get_feature
from app.services.saes import find_sae
from db.driver import driver_connection, run_plan
from tests.support.factories import SeededData


def _fast_json(session: Session, slug: str, index: int) -> dict:
    return json.loads(
        feature_json(run_plan(driver_connection(session), feature_by_slug(slug, index)))
    )


def test_the_fast_json_equals_the_validated_record(session: Session, seeded: SeededData) -> None:
    sae = find_sae(session, slug=seeded.sae_slug)
    for index in (seeded.rich_feature, seeded.pieces_feature, seeded.dead[0]):
        fast = _fast_json(session, seeded.sae_slug, index)
        validated = get_feature(session, sae=sae, index=index)
        assert fast == json.loads(validated.model_dump_json())
        assert set(fast) == set(FeatureDetail.model_fields)


def test_the_rich_feature_is_complete(session: Session, seeded: SeededData) -> None:
    body = _fast_json(session, seeded.sae_slug, seeded.rich_feature)
    assert body["histogram"] and body["explanations"] and body["neighbours"]
    assert body["top_examples"] and body["intervals"]
    assert "id" not in body["sae"]  # the SAE's row id stays internal


def test_a_provenance_beyond_64_bit_integers_is_still_written(
    session: Session, seeded: SeededData
) -> None:
    """orjson refuses integers past 64 bits; an imported label's provenance may hold one."""
    stored = run_plan(
        driver_connection(session), feature_by_slug(seeded.sae_slug, seeded.rich_feature)
    )
    stored.row["explanations"][0]["provenance"] = {"row": 2**70}
    body = json.loads(feature_json(stored))
    assert {"row": 2**70} in [explanation["provenance"] for explanation in body["explanations"]]


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
        run_plan(driver_connection(session), feature_by_slug(slug, index))
