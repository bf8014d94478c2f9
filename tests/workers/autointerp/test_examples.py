"""Non-activating windows come from the window sample: never with the feature active, hard
negatives with a decoder-cosine neighbour active, each half from its own documents."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.models import WindowSample
from tests.support.autointerp import KEYWORDS
from tests.workers.autointerp.conftest import keyword_sae
from workers.autointerp.config import AutointerpConfig
from workers.autointerp.examples import explain_half, load_feature_windows

CONFIG = AutointerpConfig(explainer="stand-in", scorer="stand-in", base_url="http://127.0.0.1/v1")


def test_non_activating_windows_never_have_the_feature_and_hard_ones_have_a_neighbour(
    keyword_db,
) -> None:
    _, sessions = keyword_db
    with sessions() as session:
        sae = keyword_sae(session)
        for index in range(len(KEYWORDS)):
            windows = load_feature_windows(session, sae.id, index, CONFIG)
            assert windows is not None and windows.neighbours == ((index + 1) % len(KEYWORDS),)
            for explain, chosen, n in (
                (True, windows.explain_non_activating, CONFIG.n_explain_non_activating),
                (False, windows.score_non_activating, CONFIG.n_score_non_activating),
            ):
                assert len(chosen) == n
                assert len({w.window_id for w in chosen}) == n
                hard = [w for w in chosen if w.source == "neighbour"]
                assert 0 < len(hard) <= int(n * CONFIG.hard_negative_share)
                for window in chosen:
                    active = _active(session, window.window_id)
                    assert index not in active and KEYWORDS[index] not in window.text
                    assert not window.activating and window.source in ("neighbour", "random")
                    assert explain_half(window.document_id, CONFIG.seed, 0.5) == explain
                for window in hard:
                    assert _active(session, window.window_id) & set(windows.neighbours)


def test_the_same_seed_picks_the_same_windows(keyword_db) -> None:
    _, sessions = keyword_db
    with sessions() as session:
        sae = keyword_sae(session)
        first = load_feature_windows(session, sae.id, 3, CONFIG)
        again = load_feature_windows(session, sae.id, 3, CONFIG)
        other = load_feature_windows(session, sae.id, 3, CONFIG.model_copy(update={"seed": 1}))
    assert first == again
    assert [w.window_id for w in first.score_non_activating] != [
        w.window_id for w in other.score_non_activating
    ]


def _active(session: Session, window_id: int | None) -> set[int]:
    return set(session.get_one(WindowSample, window_id).feature_indices)
