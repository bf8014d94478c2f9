"""The typed job contract: cache keys derived from Params, Result checks, the registry."""

from __future__ import annotations

import uuid

import pytest

from workers.kinds.contract import ResultMismatch
from workers.kinds.encode import ENCODE, EncodeParams
from workers.kinds.registry import get_kind, register, typed_kinds
from workers.kinds.steer import STEER, SteerParams
from workers.kinds.study import StudyParams, UploadRef


def encode_params(upload: uuid.UUID, sha: str = "a" * 64, **changes: object) -> EncodeParams:
    values: dict[str, object] = {
        "model": "tiny",
        "sae": "demo",
        "sae_weights_sha256": "w" * 64,
        "study": StudyParams(frontal=UploadRef(id=upload, sha256=sha), indication="Cough."),
        "max_new_tokens": 20,
        **changes,
    }
    return EncodeParams.model_validate(values)


def test_the_cache_key_ignores_upload_ids_but_not_pixels_or_settings() -> None:
    key = ENCODE.cache_key(encode_params(uuid.uuid4()))
    assert ENCODE.cache_key(encode_params(uuid.uuid4())) == key
    assert ENCODE.cache_key(encode_params(uuid.uuid4(), sha="b" * 64)) != key
    assert ENCODE.cache_key(encode_params(uuid.uuid4(), top_features=11)) != key
    assert ENCODE.cache_key(encode_params(uuid.uuid4(), max_new_tokens=21)) != key


def test_the_key_changes_with_the_kind_and_its_version() -> None:
    params = encode_params(uuid.uuid4())
    newer = ENCODE.__class__(**{**ENCODE.__dict__, "version": ENCODE.version + 1})
    assert newer.cache_key(params) != ENCODE.cache_key(params)


def test_encode_and_steer_share_the_baseline_key_of_one_study() -> None:
    upload = uuid.uuid4()
    encode = encode_params(upload)
    steer = SteerParams.model_validate(
        {
            **encode.model_dump(exclude={"top_features", "baseline_key"}),
            "features": [{"index": 3, "alphas": [10]}],
            "steering_scale": 1.0,
        }
    )
    assert steer.baseline_key == encode.baseline_key
    assert encode_params(uuid.uuid4()).baseline_key == encode.baseline_key
    assert encode_params(upload, seed=1).baseline_key != encode.baseline_key
    assert STEER.cache_key(steer) != ENCODE.cache_key(encode)
    assert EncodeParams.model_validate(encode.model_dump(mode="json")) == encode


def test_a_result_that_does_not_fit_is_named_field_by_field() -> None:
    with pytest.raises(ResultMismatch, match=r"does not match SteerResult \(version 3\): sae: "):
        STEER.check_result({"baseline": "a"})
    result = ENCODE.check_result(
        {
            "sae": "demo",
            "d_sae": 8,
            "report": "x",
            "baseline_cached": False,
            "tokens": [{"text": "x", "features": [{"index": 5, "value": 1.5}]}],
            "prompt_tokens": [],
            "totals": [{"index": 2, "sum": 1.0, "max": 1.0, "count": 1}],
            "n_active_features": 2,
            "max_value": 1.5,
        }
    )
    assert result.feature_refs().model_dump() == {"sae": "demo", "indices": [2, 5]}


def test_the_registry_holds_encode_and_steer_and_refuses_a_second_kind_of_one_name() -> None:
    assert {"encode", "steer"} <= {kind.name for kind in typed_kinds()}
    assert get_kind("encode") is ENCODE and get_kind("nothing") is None
    assert register(ENCODE) is ENCODE
    with pytest.raises(ValueError, match="already registered"):
        register(ENCODE.__class__(**{**ENCODE.__dict__, "version": 99}))
