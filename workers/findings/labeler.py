"""Rule-based CheXpert-style findings labeler: mentions, then negation and uncertainty cues.

Follows the CheXpert labeler (Irvin et al. 2019): find mentions of each observation per sentence,
classify every mention as negative, uncertain or positive, then aggregate per observation with
positive > uncertain > negative. CheXpert decides negation and uncertainty on a dependency graph
(NegBio); here each sentence is cut into clauses at contrastive words ("but", "however", ";") and
NegEx-style cues act on the mentions within reach of them in the same clause:

1. uncertainty cues that contain a negation ("cannot be excluded", "no new") — uncertain;
2. negation cues before ("no", "without", "free of", "normal") or after ("is not seen",
   "has resolved", "within normal limits") the mention — negative;
3. uncertainty cues ("may", "possible", "versus", "suggestive of", "likely") — uncertain;
4. otherwise positive.

"No Finding" is positive when no observation other than Support Devices (and no finding outside the
14, such as emphysema or scoliosis) is positive or uncertain; it is never negative, only absent.
"Heart size is normal" labels Cardiomegaly negative, as in CheXpert. Unlike CheXpert, a neutral
mention like "heart size" or "mediastinal contour" counts as positive only with an enlargement word
next to it; with nothing said about enlargement, negation or hedging it is not counted at all
(CheXpert calls "the heart is XXXX" positive and "stable cardiomediastinal silhouette" uncertain,
which on OpenI mostly marks normal studies). Likewise a finding after "no change in" is present
(a NegEx pseudo-negation), and congestion-type edema mentions are at most uncertain. A positive or
uncertain "heart failure"/"CHF" also makes Cardiomegaly uncertain, as in CheXpert. OpenI's
de-identification token XXXX is an ordinary unknown word that does not break a cue's reach; it is
part of a mention only where OpenI redacted a device name ("XXXX-a-XXXX", "cardiac XXXX"), and
"x-XXXX" reads as "x-ray".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from workers.findings.phrases import (
    CARDIOMEGALY,
    EDEMA,
    NO_FINDING,
    OBSERVATIONS,
    OTHER_FINDING,
    SUPPORT_DEVICES,
    VOCABULARY,
    Vocabulary,
)


class Label(StrEnum):
    """The value of one observation in one report."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"
    ABSENT = "absent"


_PRECEDENCE = (Label.POSITIVE, Label.UNCERTAIN, Label.NEGATIVE)


@dataclass(frozen=True)
class Cue:
    """A phrase that negates or hedges mentions within `reach` words of it in its clause."""

    pattern: re.Pattern[str]
    reach: int


@dataclass(frozen=True)
class Mention:
    """One mention of an observation, with the label its context gives it."""

    observation: str
    label: Label
    text: str
    """The matched words."""
    sentence: str
    """The normalised sentence the mention is in."""


def _cue(reach: int, *phrases: str) -> Cue:
    return Cue(re.compile(r"(?<![\w-])(?:" + "|".join(phrases) + r")(?![\w-])"), reach)


_CLAUSE = 20  # reach of a cue that governs the rest of its clause

# Uncertainty that must win over the negation inside it ("cannot be excluded", "no new").
UNCERTAIN_FIRST_BEFORE = (
    _cue(_CLAUSE, r"cannot (?:be )?(?:exclude|excluded|rule out|ruled out)", r"can ?not exclude"),
    _cue(_CLAUSE, r"(?:cannot|can't|not) (?:entirely |completely |totally )?(?:be )?excluded?"),
    _cue(_CLAUSE, r"no (?:evidence )?to (?:rule out|exclude)", r"not (?:be )?ruled out"),
    _cue(3, r"no (?:\w+ )?new"),
)
UNCERTAIN_FIRST_AFTER = (
    _cue(
        _CLAUSE,
        r"(?:cannot|can ?not|could not|can't|not) (?:be )?(?:entirely |completely |totally )?"
        r"(?:excluded|exclude|ruled out|rule out)",
        r"not (?:well|clearly|definitely|entirely) (?:seen|visualized|evaluated|excluded)",
        r"(?:poorly|incompletely|not well) (?:evaluated|visualized|assessed|seen)",
        r"(?:is|are) not (?:clearly|well) (?:seen|visualized)",
    ),
)

NEGATION_BEFORE = (
    _cue(
        _CLAUSE,
        r"no",
        r"not",
        r"without",
        r"free of",
        r"negative for",
        r"absence of",
        r"absent",
        r"rather than",
        r"(?:interval )?(?:resolution|resolving|disappearance|removal|clearing|drainage) of",
        r"resolved",
        r"cleared",
        r"clear of",
        r"nor",
        r"history of",
        r"neither",
        r"exclude",
        r"to rule out",
        r"(?:lungs? (?:are|is|remain)s? )?clear (?:of|without)",
    ),
    _cue(3, r"normal(?:ly)?", r"unremarkable", r"normal-?sized?", r"stable normal", r"normal in"),
    _cue(0, r"clear"),
)
NEGATION_AFTER = (
    _cue(
        _CLAUSE,
        r"(?:is|are|was|were|has been|have been)? ?not (?:\w+ )?"
        r"(?:seen|identified|visualized|present|demonstrated|appreciated|evident|noted|detected|"
        r"visible|apparent|shown|enlarged|increased|widened|significantly enlarged)",
        r"no longer (?:\w+ )?(?:seen|visualized|present|identified|evident|apparent|demonstrated)",
        r"(?:has|have) (?:nearly |almost |completely |since )?(?:resolved|cleared|been removed)",
        r"(?:is|are|was|were) (?:nearly |almost |completely )?(?:resolved|cleared|removed|absent)",
        r"resolved",
        r"removed",
        r"(?:remains? |is |are |appears? |also |otherwise |again |now )?"
        r"(?:with)?in (?:the )?(?:upper )?(?:limits of normal|normal (?:limits|range))",
        r"(?:upper |high |top )?(?:limits|range) of normal",
        r"(?:appears?|is|are|remains?|was|were|seems?) (?:\w+ )?(?:normal|unremarkable|negative)",
        r"(?:are|is) clear",
    ),
    _cue(2, r"normal", r"unremarkable", r"negative"),
)

UNCERTAIN_BEFORE = (
    _cue(
        _CLAUSE,
        r"may",
        r"might",
        r"could",
        r"would",
        r"possible",
        r"possibly",
        r"probable",
        r"probably",
        r"presumabl[ey]",
        r"presumed",
        r"likely",
        r"questionable",
        r"possibility of",
        r"question of",
        r"suspect(?:ed)?",
        r"suspicious (?:for|of)",
        r"suspicion (?:for|of)",
        r"concern(?:ing)? (?:for|of)",
        r"worrisome for",
        r"suggest(?:s|ed|ing|ive of|ion of)?",
        r"differential(?: diagnosis)?(?: includes?)?",
        r"consider(?:ed)?",
        r"equivocal",
        r"indeterminate",
        r"borderline",
        r"(?:early|developing|evolving|subtle|vague|minimal|faint) (?:\w+ )?"
        r"(?:pneumonia|infiltrate)",
        r"versus",
        r"vs",
        r"question",
        r"\?",
        r"correlat\w*",
    ),
    _cue(3, r"or", r"and/or"),
)
UNCERTAIN_AFTER = (
    _cue(3, r"versus", r"vs", r"or", r"and/or", r"\?"),
    _cue(
        _CLAUSE,
        r"(?:is|are) (?:not )?(?:entirely )?(?:excluded|suspected)",
        r"(?:is|are) (?:possible|likely|suspected|questioned|probable)",
        r"(?:may|might|could|can) (?:also |still )?(?:be )?"
        r"(?:present|seen|noted|exist|persist|appear)",
        r"(?:borderline|upper normal|upper-normal|at the upper limits)",
    ),
)

# A neutral mention (heart size, mediastinal contour) is a finding only next to one of these.
_ENLARGED = re.compile(
    r"\b(?:enlarg|large|increased|prominen|widen|mildly|moderately|markedly|borderline)"
)


def _said_enlarged(prefix: str, suffix: str) -> bool:
    """Whether an enlargement word is right before the neutral mention or soon after it."""
    before = prefix.rsplit(",", 1)[-1].split()[-4:]
    after = suffix.split(",", 1)[0].split()[:5]
    return bool(_ENLARGED.search(" ".join(before)) or _ENLARGED.search(" ".join(after)))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+|(?<=\w)\.(?=[A-Z])")
_CLAUSE_BREAK = re.compile(
    r";|\b(?:but|however|although|though|whereas|except|apart from|aside from|which|otherwise|"
    r"while|(?<!not )(?:shows?|demonstrates?|reveals?))\b|"
    r",\s*(?=(?:there|the|and there|this|these|it)\b)|\band (?=(?:the|there)\b)|"
    r"(?<!consistent )(?<!compatible )(?<!keeping )\bwith\b|(?<!\d)\.(?!\d)"
)
# Phrases that look like a negation but are not one (NegEx's pseudo-negations).
_PSEUDO_NEGATION = re.compile(
    r"\bno (?:\w+ )?(?:significant |interval |definite |appreciable )*"
    r"(?:change|increase|worsening|progression)\b|\bnot only\b"
)
_XRAY = re.compile(r"\bx-xxxx\b")
_NUMBERED = re.compile(r"(?:^|\s)\d+\.\s")


def _normalise(text: str) -> str:
    """Lower-case, spell out the redacted "x-XXXX" as x-ray and drop list numbering."""
    lowered = _XRAY.sub("x-ray", text.lower())
    return _NUMBERED.sub(" ", lowered)


def sentences(text: str) -> list[str]:
    """The report cut into normalised sentences."""
    pieces = _SENTENCE_END.split(_normalise(text))
    return [piece.strip() for piece in pieces if piece.strip()]


def _clauses(sentence: str) -> list[str]:
    return [clause.strip() for clause in _CLAUSE_BREAK.split(sentence) if clause.strip()]


def _word_count(text: str) -> int:
    return len(text.split())


def _cue_before(prefix: str, cues: tuple[Cue, ...]) -> bool:
    """Whether a cue ends within its reach before the mention that follows `prefix`."""
    return any(
        _word_count(prefix[match.end() :]) <= cue.reach
        for cue in cues
        for match in cue.pattern.finditer(prefix)
    )


def _cue_after(suffix: str, cues: tuple[Cue, ...]) -> bool:
    """Whether a cue starts within its reach after the mention that `suffix` follows."""
    return any(
        _word_count(suffix[: match.start()]) <= cue.reach
        for cue in cues
        for match in cue.pattern.finditer(suffix)
    )


def _classify(clause: str, start: int, end: int, vocabulary: Vocabulary) -> Label | None:
    """The label the clause gives the mention at [start, end), or None if it says nothing."""
    masked = _PSEUDO_NEGATION.sub(lambda match: "_" * len(match.group()), clause)
    prefix, suffix = masked[:start], masked[end:]
    if _cue_before(prefix, UNCERTAIN_FIRST_BEFORE) or _cue_after(suffix, UNCERTAIN_FIRST_AFTER):
        return Label.UNCERTAIN
    if _cue_before(prefix, NEGATION_BEFORE) or _cue_after(suffix, NEGATION_AFTER):
        return Label.NEGATIVE
    if _cue_before(prefix, UNCERTAIN_BEFORE) or _cue_after(suffix, UNCERTAIN_AFTER):
        return Label.UNCERTAIN
    if vocabulary.neutral and not _said_enlarged(prefix, suffix):
        return None
    return Label.UNCERTAIN if vocabulary.hedged else Label.POSITIVE


def _mentions_in(clause: str, sentence: str) -> list[Mention]:
    found: list[Mention] = []
    for vocabulary in VOCABULARY:
        excluded = (
            [match.span() for match in vocabulary.unmention.finditer(clause)]
            if vocabulary.unmention
            else []
        )
        for match in vocabulary.mention.finditer(clause):
            start, end = match.span()
            if any(start < stop and end > begin for begin, stop in excluded):
                continue
            label = _classify(clause, start, end, vocabulary)
            if label is not None:
                found.append(Mention(vocabulary.observation, label, match.group(), sentence))
    return found


def find_mentions(text: str) -> list[Mention]:
    """Every labelled mention in the report, in reading order."""
    return [
        mention
        for sentence in sentences(text)
        for clause in _clauses(sentence)
        for mention in _mentions_in(clause, sentence)
    ]


_HEART_FAILURE = re.compile(r"heart failure|chf|cardiac failure|congestive failure")


def _aggregate(labels: list[Label]) -> Label:
    for label in _PRECEDENCE:
        if label in labels:
            return label
    return Label.ABSENT


def label_mentions(mentions: list[Mention]) -> dict[str, Label]:
    """Per-observation labels from a report's mentions (CheXpert's aggregation)."""
    by_observation: dict[str, list[Label]] = {observation: [] for observation in OBSERVATIONS}
    by_observation[OTHER_FINDING] = []
    for mention in mentions:
        by_observation[mention.observation].append(mention.label)
        if (
            mention.observation == EDEMA
            and mention.label in (Label.POSITIVE, Label.UNCERTAIN)
            and _HEART_FAILURE.search(mention.text)
        ):
            by_observation[CARDIOMEGALY].append(Label.UNCERTAIN)
    labels = {observation: _aggregate(by_observation[observation]) for observation in OBSERVATIONS}
    finding = any(
        label in (Label.POSITIVE, Label.UNCERTAIN)
        for observation, values in by_observation.items()
        if observation not in (SUPPORT_DEVICES, NO_FINDING)
        for label in values
    )
    labels[NO_FINDING] = Label.ABSENT if finding else Label.POSITIVE
    return labels


def label_report(text: str) -> dict[str, Label]:
    """Label a report over the 14 CheXpert observations, in CheXpert's order."""
    return label_mentions(find_mentions(text))
