"""The migrated schema: constraints and generated columns behave as the ORM expects."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Explanation, Feature
from tests.support.factories import make_sae


def test_feature_label_is_full_text_searchable(session: Session) -> None:
    sae = make_sae(session)
    session.add(Feature(sae_id=sae.id, index=0, group=0, label="Pleural effusion on the left"))
    session.add(Feature(sae_id=sae.id, index=1, group=0, label="Cardiomegaly"))
    session.flush()
    found = session.scalars(
        select(Feature.index).where(
            Feature.label_tsv.op("@@")(func.plainto_tsquery("english", "effusions"))
        )
    ).all()
    assert found == [0]


def test_feature_index_is_unique_within_an_sae(session: Session) -> None:
    sae = make_sae(session)
    session.add_all(
        [Feature(sae_id=sae.id, index=3, group=0), Feature(sae_id=sae.id, index=3, group=1)]
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_explanation_source_is_checked(session: Session) -> None:
    sae = make_sae(session)
    feature = Feature(sae_id=sae.id, index=0, group=0)
    session.add(feature)
    session.flush()
    session.add(Explanation(feature_id=feature.id, text="x", source="oracle", source_key="o"))
    with pytest.raises(IntegrityError):
        session.flush()
