"""Mention vocabulary of the findings labeler: what each CheXpert observation is called in a report.

Adapted from the phrase lists of the CheXpert labeler (stanfordmlgroup/chexpert-labeler,
Irvin et al. 2019) and written as regular expressions over lower-cased text. A match that overlaps
one of the observation's unmention patterns is not a mention ("pericardial effusion" is not a
pleural effusion, "calcified nodule" is not a lung lesion). Additions beyond CheXpert's lists are
marked in the comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_FINDING = "No Finding"
ENLARGED_CARDIOMEDIASTINUM = "Enlarged Cardiomediastinum"
CARDIOMEGALY = "Cardiomegaly"
LUNG_LESION = "Lung Lesion"
LUNG_OPACITY = "Lung Opacity"
EDEMA = "Edema"
CONSOLIDATION = "Consolidation"
PNEUMONIA = "Pneumonia"
ATELECTASIS = "Atelectasis"
PNEUMOTHORAX = "Pneumothorax"
PLEURAL_EFFUSION = "Pleural Effusion"
PLEURAL_OTHER = "Pleural Other"
FRACTURE = "Fracture"
SUPPORT_DEVICES = "Support Devices"

OBSERVATIONS: tuple[str, ...] = (
    NO_FINDING,
    ENLARGED_CARDIOMEDIASTINUM,
    CARDIOMEGALY,
    LUNG_LESION,
    LUNG_OPACITY,
    EDEMA,
    CONSOLIDATION,
    PNEUMONIA,
    ATELECTASIS,
    PNEUMOTHORAX,
    PLEURAL_EFFUSION,
    PLEURAL_OTHER,
    FRACTURE,
    SUPPORT_DEVICES,
)

# Findings outside the 14 observations; a positive or uncertain one rules out "No Finding".
OTHER_FINDING = "Other Finding"


@dataclass(frozen=True)
class Vocabulary:
    """How one observation is mentioned."""

    observation: str
    """One of OBSERVATIONS, or OTHER_FINDING."""
    mention: re.Pattern[str]
    """Phrases that name the observation."""
    unmention: re.Pattern[str] | None = None
    """Phrases that look like a mention but are not one."""
    hedged: bool = False
    """A mention is at most uncertain (CheXpert: "vascular congestion" suggests edema)."""
    neutral: bool = False
    """Mentions name an anatomical part ("heart size"): they are positive only when the clause
    also says it is enlarged; otherwise only a negation or a hedge counts."""


def _words(*phrases: str) -> re.Pattern[str]:
    """One pattern matching any phrase at a word start (phrases may be stems: "atelecta")."""
    return re.compile(r"\b(?:" + "|".join(phrases) + ")")


_OVER = r"(?:over(?:ly(?:ing|ies)?|lies|lying)?|in|into|behind|projecting over|projects over)"
_OVER_THE = _OVER + r" (?:the )?(?:superior |left |right |inferior )?"

VOCABULARY: tuple[Vocabulary, ...] = (
    Vocabulary(
        CARDIOMEGALY,
        _words(
            r"cardiomegaly",
            r"cardiac enlargement",
            r"enlarged heart",
            r"enlarged cardiac (?:silhouette|shadow|contour)",
            r"enlargement of the (?:heart|cardiac silhouette)",
        ),
    ),
    # CheXpert counts "heart size is normal" as a (negated) mention of cardiomegaly.
    Vocabulary(
        CARDIOMEGALY,
        _words(
            r"the heart\b",
            r"heart size",
            r"heart is",
            r"cardiac (?:size|shadow|contour|silhouette)",
            r"size of the heart",
        ),
        _words(_OVER_THE + r"(?:heart|cardiac)", r"heart border"),
        neutral=True,
    ),
    Vocabulary(
        ENLARGED_CARDIOMEDIASTINUM,
        _words(
            r"widened (?:superior |upper )?mediastinum",
            r"mediastinal (?:widening|prominence|enlargement)",
            r"widening of the (?:superior |upper )?mediastinum",
        ),
    ),
    Vocabulary(
        ENLARGED_CARDIOMEDIASTINUM,
        _words(
            r"mediastinum",
            r"cardiomediastin",
            r"mediastinal (?:contour|configuration|silhouette|width)",
            r"pericardial silhouette",
            r"cardiac silhouette and vascularity",
        ),
        _words(_OVER_THE + r"(?:mediastin|cardiomediastin)", r"pneumomediastinum"),
        neutral=True,
    ),
    Vocabulary(
        LUNG_LESION,
        _words(
            r"mass(?:es)?\b",
            r"nodular (?:density|densities|opacit|opacification)",
            r"nodul",
            r"lumps?\b",
            r"cavitary lesion",
            r"carcinoma",
            r"neoplasm",
            r"tumor",
            r"metasta",  # addition: CheXpert lists metastasis among other findings
        ),
        _words(
            r"calcifi\w* nodul",
            r"massive",
            r"massengale",
            r"(?:soft tissue|breast|thyroid|pericardial|(?:anterior |posterior )?mediastinal) mass",
        ),
    ),
    Vocabulary(
        LUNG_OPACITY,
        _words(
            r"opaci",
            r"decreased translucency",
            r"increased density",
            r"air-? ?space (?:disease|opaci)",
            r"infiltrat",
            r"interstitial (?:marking|pattern|lung)",
            r"reticular (?:pattern|marking)",
            r"reticulation",
            r"parenchymal scarring",
            r"peribronchial thickening",
            r"wall thickening",
            r"scar",
        ),
        _words(r"pleural scar", r"pleuro-?parenchymal scar"),
    ),
    Vocabulary(
        EDEMA,
        _words(r"edema", r"heart failure", r"chf\b", r"(?:cardiac|congestive|early) failure"),
        _words(r"soft tissue edema", r"subcutaneous edema"),
    ),
    # CheXpert: vascular congestion is a hedged sign of edema (additions after the first four).
    Vocabulary(
        EDEMA,
        _words(
            r"vascular congestion",
            r"pulmonary congestion",
            r"indistinctness",
            r"vascular prominence",
            r"(?:pulmonary )?venous hypertension",
            r"vascular (?:redistribution|cephalization)",
            r"engorge",
            r"(?:prominen\w*|increased) (?:of )?(?:the )?(?:central )?(?:pulmonary |lung )?"
            r"(?:vascular|vasculature|vascularity)",
            r"(?:vascular|vasculature|vascularity) (?:is |are |remains? |appears? )?"
            r"(?:\w+ )?(?:prominen|increased)",
        ),
        hedged=True,
    ),
    Vocabulary(CONSOLIDATION, _words(r"consolidat")),
    Vocabulary(
        PNEUMONIA,
        re.compile(r"(?:\b|broncho)pneumonia|\binfectio"),
        _words(
            r"(?:granulomatous|prior|previous|old|remote|healed|fungal|histoplasm\w*) infection"
        ),
    ),
    Vocabulary(
        ATELECTASIS,
        _words(r"atelecta", r"collapse"),
        re.compile(
            r"\b(?:vertebral|vertebra|body|bodies|height) collapse"
            r"|collapse of (?:the )?\w* ?vertebra"
        ),
    ),
    Vocabulary(PNEUMOTHORAX, re.compile(r"pneumothora(?:x|ces)|\bpleural air\b")),
    Vocabulary(
        PLEURAL_EFFUSION,
        _words(r"pleural fluid", r"effusion"),
        _words(r"pericardial effusion", r"joint effusion"),
    ),
    Vocabulary(
        PLEURAL_OTHER,
        _words(
            r"pleural thickening",
            r"thickening of the pleura",
            r"fibrosis",
            r"fibrothorax",
            r"pleural scar",
            r"pleural parenchymal scar",
            r"pleuro-?parenchymal scar",
            r"pleuro-?pericardial scar",
            # additions: pleural changes that MeSH indexes as pleural thickening
            r"(?:apical |pleural )+capping",
            r"(?:apical )?pleural caps?\b",
            r"fissur\w* thickening",
            r"thickening (?:of|in|along) the (?:\w+ )?fissure",
            r"pleural plaques?",
            r"biapical thickening",
        ),
    ),
    Vocabulary(FRACTURE, _words(r"fracture")),
    Vocabulary(
        SUPPORT_DEVICES,
        _words(
            r"pacer",
            r"lines?\b",
            r"picc",
            r"tubes?\b",
            r"valve",
            r"catheter",
            r"pacemaker",
            r"hardware",
            r"arthroplast",
            r"markers?\b",
            r"a?icd\b",
            r"defib",
            r"device",
            r"drains?\b",
            r"plates?\b",
            r"screw",
            r"cannula",
            r"apparatus",
            r"coil",
            r"support (?:devices?|lines?|tubes?|apparatus)",
            r"equipment",
            r"mediport",
            # additions: surgical material that MeSH indexes as devices or instruments
            r"port\b",
            r"stent",
            r"(?:sternotomy |surgical |cerclage )?wires?\b",
            r"(?:surgical |vascular )?clips?\b",
            r"staples?\b",
            r"prosthe",
            r"leads?\b",
            r"generator",
            r"endotracheal",
            r"tracheostomy",
            r"shunt",
            r"filter",
            # OpenI redacts many device names ("right chest XXXX with tip in the SVC")
            r"tips? (?:is |are |of which |now )?(?:at|in|over|overl|project|terminat|lies|near|"
            r"extend|visuali|locat|posit|abut|reach|just|to)",
            r"xxxx-a-xxxx",
            r"cardiac xxxx",
        ),
        _words(
            r"(?:kerley |xxxx )?b-? ?lines?",
            r"lung lines?",
            r"valve (?:surgery|replacement surgery|repair)",
            r"septal lines?",
            r"(?:midclavicular|mid clavicular|azygoesophageal|paraspinal|pleural|fissure|skin)"
            r" lines?",
            r"lines? of the",
            r"line with",
            r"nipple markers?",
            r"(?:aortic|mitral|tricuspid|pulmonic) valve (?:calcification|annul)",
            r"valve annul",
        ),
    ),
    # CheXpert's list of other findings (its "No Finding" mentions), with additions for low
    # lung volumes, tortuosity and spine changes that MeSH indexes as abnormal.
    Vocabulary(
        OTHER_FINDING,
        _words(
            r"emphysema",
            r"blunt",
            r"densit",
            r"elevation",
            r"elevated",
            r"eventration",
            r"(?:dextro|levo|rotary |thoracolumbar )?scoliosis",
            r"curvature",
            r"degenera",
            r"calcifi",
            r"hyperinflat",
            r"hyperexpan",
            r"hyperaera",
            r"bronchospasm",
            r"asthma",
            r"hernia",
            r"copd\b",
            r"interstitial markings",
            r"plaque",
            r"osteophyt",
            r"aortic disease",
            r"bronchiolitis",
            r"airways? disease",
            r"thickening",
            r"cephalization",
            r"aspiration",
            r"bullae",
            r"bullous",
            r"contusion",
            r"atherosclero",
            r"osteopenia",
            r"granulom",
            r"pneumomediastinum",
            r"pneumoperitoneum",
            r"osteodystrophy",
            r"cuffing",
            r"irregular lucency",
            r"inflam",
            r"hypertension",
            r"prominen",
            r"kyphosis",
            r"kyphotic",
            r"hyperexpansion",
            r"bullet",
            r"reticula",
            r"thoracentesis",
            r"bronchitis",
            r"volume loss",
            r"deformity",
            r"hemorrhage",
            r"hematoma",
            r"radiopaque",
            r"aerophagia",
            r"arthropathy",
            r"low (?:lung )?volume",
            r"volumes (?:are |remain )?(?:\w+ )?low",
            r"hypoinflat",
            r"hypoventilat",
            r"(?:lymph)?adenopathy",
            r"endplate",
            r"spinal fusion",
            r"hypoexpan",
            r"tortuo",
            r"spondylo",
            r"spurring",
            r"arthritis",
            r"flattening",
            r"flattened",
            r"foreign bod",
            r"lucenc",
            r"ectatic",
            r"ectasia",
            r"bronchiectasis",
            r"chronic lung disease",
            r"chronic obstructive",
        ),
    ),
)
