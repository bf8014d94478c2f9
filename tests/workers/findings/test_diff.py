"""Word diff of two reports."""

from __future__ import annotations

from workers.findings.diff import Segment, tokenize, word_diff


def test_identical_texts_are_one_equal_segment() -> None:
    text = "The heart is normal in size. No pleural effusion."
    segments = word_diff(text, text)
    assert [segment.op for segment in segments] == ["equal"]
    assert segments[0].old == segments[0].new == text


def test_one_changed_word_is_a_replace_segment() -> None:
    segments = word_diff("The heart is normal in size.", "The heart is enlarged in size.")
    assert segments == [
        Segment("equal", "The heart is", "The heart is"),
        Segment("replace", " normal", " enlarged"),
        Segment("equal", " in size.", " in size."),
    ]


def test_insert_and_delete_segments() -> None:
    inserted = word_diff("No effusion.", "No pleural effusion.")
    assert [(s.op, s.old, s.new) for s in inserted if s.op != "equal"] == [
        ("insert", "", " pleural")
    ]
    deleted = word_diff("No pleural effusion.", "No effusion.")
    assert [(s.op, s.old, s.new) for s in deleted if s.op != "equal"] == [
        ("delete", " pleural", "")
    ]


def test_segments_rebuild_both_texts_exactly() -> None:
    old = "Heart size normal.  Lungs clear;  no  effusion.\n"
    new = "Heart size is mildly enlarged. Lungs: small left effusion, possibly atelectasis."
    segments = word_diff(old, new)
    assert "".join(segment.old for segment in segments) == old
    assert "".join(segment.new for segment in segments) == new
    assert {segment.op for segment in segments} >= {"equal", "replace"}


def test_whitespace_alone_is_not_a_difference() -> None:
    segments = word_diff("No  effusion.", "No effusion.")
    assert [segment.op for segment in segments] == ["equal"]


def test_tokens_keep_punctuation_and_redaction_tokens() -> None:
    assert tokenize("Left-sided XXXX, 1.5 cm.") == [
        "Left-sided",
        " XXXX",
        ",",
        " 1",
        ".",
        "5",
        " cm",
        ".",
    ]
