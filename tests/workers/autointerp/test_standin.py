"""The stand-in LLM: its documented rules, logprobs, usage, failure injection and call counts."""

from __future__ import annotations

import math

from fastapi.testclient import TestClient

from workers.autointerp.standin import create_standin_app, prompt_hash


def _ask(client: TestClient, content: str, model: str = "stand-in", **extra):
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return client.post("/v1/chat/completions", json=body, headers=extra.pop("headers", None))


def test_explanation_names_the_most_frequent_highlighted_words() -> None:
    client = TestClient(create_standin_app())
    prompt = (
        "Example 1: small <<effusion>> left\nExample 2: <<Effusion>> and <<edema>>\n"
        "Example 3: the <<edema>> <<effusion>> of\n[EXPLANATION]"
    )
    reply = _ask(client, prompt).json()
    assert reply["choices"][0]["message"]["content"] == "[EXPLANATION]: effusion, edema"
    assert reply["usage"]["prompt_tokens"] == len(prompt.split())
    assert reply["model"] == "stand-in"


def test_detection_answers_one_iff_the_example_holds_a_label_word() -> None:
    client = TestClient(create_standin_app())
    prompt = (
        "Latent explanation: pleural effusion\n\nExample 0: small effusion on the left\n"
        "Example 1: heart size normal\nExample 2: PLEURAL thickening"
    )
    assert _ask(client, prompt).json()["choices"][0]["message"]["content"] == "[1, 0, 1]"


def test_fuzzing_looks_only_at_the_highlighted_words() -> None:
    client = TestClient(create_standin_app())
    prompt = (
        "Latent explanation: effusion\n\nExample 0: <<effusion>> seen\n"
        "Example 1: effusion <<seen>> here"
    )
    assert _ask(client, prompt).json()["choices"][0]["message"]["content"] == "[1, 0]"


def test_logprobs_give_each_verdict_a_probability() -> None:
    client = TestClient(create_standin_app())
    prompt = "Latent explanation: effusion\n\nExample 0: effusion\nExample 1: nothing"
    reply = _ask(client, prompt, logprobs=True, top_logprobs=5).json()
    content = reply["choices"][0]["logprobs"]["content"]
    digits = [entry for entry in content if entry["token"] in ("0", "1")]
    p_one = [
        math.exp(next(t["logprob"] for t in d["top_logprobs"] if t["token"] == "1")) for d in digits
    ]
    assert [d["token"] for d in digits] == ["1", "0"]
    assert p_one[0] > 0.5 > p_one[1]


def test_only_stand_in_model_names_are_served() -> None:
    response = _ask(TestClient(create_standin_app()), "hi", model="gpt-4o")
    assert response.status_code == 404
    assert "stand-in" in response.json()["error"]["message"]


def test_injected_failures_and_counts_per_prompt() -> None:
    client = TestClient(create_standin_app())
    first = _ask(client, "Latent explanation: x\nExample 0: x", model="stand-in:fail-429-once")
    second = _ask(client, "Latent explanation: x\nExample 0: x", model="stand-in:fail-429-once")
    assert (first.status_code, second.status_code) == (429, 200)
    assert _ask(client, "a", model="stand-in:fail-500").status_code == 500
    garbage = client.post(
        "/v1/chat/completions",
        json={"model": "stand-in", "messages": [{"role": "user", "content": "b"}]},
        headers={"X-Standin-Fail": "garbage"},
    )
    assert garbage.json()["choices"][0]["message"]["content"] == "~~ no idea, sorry ~~"
    stats = client.get("/stats").json()
    key = prompt_hash([{"role": "user", "content": "Latent explanation: x\nExample 0: x"}])
    assert stats["calls_by_prompt"][key] == 2
    assert stats["answered_by_prompt"][key] == 1
    assert stats["calls"] == 4 and stats["answered"] == 2
    assert client.post("/stats/reset").json()["calls"] == 0
