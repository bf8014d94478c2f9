"""Every figure the feature page and the report page show (HTML and JSON), against its definition.

Definitions are recomputed here from the stored rows (features, documents, examples), not from
the service's output: a snippet's tokens are the document's, its values the stored ones, its
maximum the largest of them, its sampled value the value on the token the example was chosen for.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html.parser import HTMLParser

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.templating import format_number, format_percent
from db.models import Corpus, Feature
from tests.support.factories import (
    PIECE_VALUES,
    PIECES,
    SeededData,
    make_document,
    make_example,
)

VOID = {"br", "img", "input", "meta", "link", "hr", "source", "col", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def find(self, css_class: str) -> list[Element]:
        """Descendants carrying `css_class`, in document order."""
        found = []
        for child in self.children:
            if css_class in child.classes:
                found.append(child)
            found += child.find(css_class)
        return found


class Tree(HTMLParser):
    """A small DOM: every element with its attributes and its whole text (visible part too)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("root", {})
        self.stack = [self.root]
        self.hidden_depth = 0
        self.visible: dict[int, list[str]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {key: value or "" for key, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)
            if "visually-hidden" in element.classes:
                self.hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        while len(self.stack) > 1:
            element = self.stack.pop()
            if "visually-hidden" in element.classes:
                self.hidden_depth -= 1
            if element.tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.text += data
            if not self.hidden_depth:
                self.visible.setdefault(id(element), []).append(data)

    def seen(self, element: Element) -> str:
        """The element's text as a sighted reader sees it (visually hidden parts left out)."""
        return "".join(self.visible.get(id(element), []))


def _page(client: TestClient, path: str) -> tuple[Tree, dict]:
    page = client.get(path)
    assert page.status_code == 200, page.text
    twin = client.get("/api/v1" + path)
    assert twin.status_code == 200, twin.text
    return Tree(page.text), twin.json()


def _stored(session: Session, sae: str, index: int) -> tuple[dict, list[dict]]:
    feature = (
        session.execute(
            text(
                "SELECT f.* FROM features f JOIN saes s ON s.id = f.sae_id "
                "WHERE s.slug = :sae AND f.index = :index"
            ),
            {"sae": sae, "index": index},
        )
        .mappings()
        .one()
    )
    examples = (
        session.execute(
            text(
                "SELECT e.kind, e.start, e.values, e.max_value, e.max_position, d.external_id, "
                "d.tokens FROM examples e JOIN documents d ON d.id = e.document_id "
                "WHERE e.feature_id = :id"
            ),
            {"id": feature["id"]},
        )
        .mappings()
        .all()
    )
    return dict(feature), [dict(example) for example in examples]


def _all(root: Element) -> list[Element]:
    return [root] + [element for child in root.children for element in _all(child)]


def _by_id(root: Element, element_id: str) -> list[Element]:
    found = [root] if root.attrs.get("id") == element_id else []
    for child in root.children:
        found += _by_id(child, element_id)
    return found


def _continues(token: str, previous: str) -> bool:
    """True when `token` continues the word `previous` ends (both alphanumeric at the seam)."""
    return token[:1].isalnum() and previous[-1:].isalnum()


def _starts(tokens: list[str]) -> list[int]:
    """Offsets where a word begins: the first token, and any token not continuing the one before."""
    return [i for i in range(len(tokens)) if i == 0 or not _continues(tokens[i], tokens[i - 1])]


def _check_example(example: dict, kind: str, stored: list[dict]) -> None:
    """One JSON example against its stored row: tokens, values, words, sampled token, maximum."""
    (row,) = [
        r
        for r in stored
        if (r["kind"], r["external_id"], r["max_position"])
        == (kind, example["document"], example["sampled_position"])
        and r["max_value"] == pytest.approx(example["sampled_value"], abs=1e-5)
    ][:1]
    tokens, values = example["tokens"], example["values"]
    start, n = example["start"], len(tokens)
    assert len(values) == n > 0
    assert tokens == row["tokens"][start : start + n]
    stored_values = np.frombuffer(row["values"], dtype="<f4").tolist()
    skip = start - row["start"]
    assert values == pytest.approx(stored_values[skip : skip + n], abs=1e-5)
    assert example["max_value"] == max(values)
    assert values[example["max_offset"]] == max(values)
    assert values.index(max(values)) == example["max_offset"]
    assert example["max_position"] == start + example["max_offset"]
    assert example["sampled_position"] == row["max_position"]
    assert example["sampled_offset"] == row["max_position"] - start
    assert example["sampled_value"] == pytest.approx(row["max_value"], abs=1e-5)
    assert values[example["sampled_offset"]] == pytest.approx(example["sampled_value"], abs=1e-5)
    starts = _starts(tokens)
    document = row["tokens"]
    sampled_word = max(s for s in starts if s <= example["sampled_offset"])
    if start > 0 and sampled_word > 0:  # no partial first word unless it holds the sampled token
        assert not _continues(tokens[0], document[start - 1])
    end = start + n
    last_word = starts[-1]
    if end < len(document) and last_word > example["sampled_offset"]:
        assert not _continues(document[end], tokens[-1])


def _check_snippet_html(element: Element, tree: Tree, example: dict, sae: str, index: int) -> None:
    """One shown example against its JSON: the figures, the words, the sampled mark, the link."""
    (sampled,) = element.find("example-sampled")
    assert tree.seen(sampled) == f"marked token {example['sampled_value']:.3g}"
    (maximum,) = element.find("example-max")
    assert tree.seen(maximum) == f"snippet max {example['max_value']:.3g}"
    (link,) = element.find("example-doc")
    assert tree.seen(link) == f"report {example['document']}"
    assert link.attrs["href"].startswith(
        f"/saes/{sae}/features/{index}/reports/{example['document']}#t"
    )
    (words,) = element.find("tokens")
    tokens, values = example["tokens"], example["values"]
    assert tree.seen(words) == "".join(tokens)
    bounds = [*_starts(tokens), len(tokens)]
    active = [
        ("".join(tokens[a:b]).strip(), max(values[a:b]), a <= example["sampled_offset"] < b)
        for a, b in itertools.pairwise(bounds)
        if max(values[a:b]) > 0 or a <= example["sampled_offset"] < b
    ]
    shown = element.find("tok")
    assert [(tree.seen(w), w.attrs["data-v"], "sampled" in w.classes) for w in shown] == [
        (word, f"{value:.3g}", is_sampled) for word, value, is_sampled in active
    ]
    (marked,) = [w for w in shown if "sampled" in w.classes]
    assert "(sampled token)" in marked.text
    word_start = max(s for s in _starts(tokens) if s <= example["sampled_offset"])
    assert link.attrs["href"].endswith(f"#t{example['start'] + word_start}")


@pytest.mark.parametrize("index", [0, 3])
def test_feature_figures_match_their_definitions(
    client: TestClient, session: Session, seeded: SeededData, index: int
) -> None:
    tree, data = _page(client, f"/saes/{seeded.sae_slug}/features/{index}")
    feature, stored = _stored(session, seeded.sae_slug, index)

    for key in ("frequency", "n_active", "n_tokens", "max_activation", "mean_activation"):
        assert data[key] == pytest.approx(feature[key])
    stats = {
        tree.seen(term): tree.seen(value)
        for div in tree.root.find("stats")[0].children
        for term, value in [div.children]
    }
    assert stats["Frequency"] == format_percent(feature["frequency"])
    assert stats["Max activation"] == format_number(feature["max_activation"])
    assert stats["Mean when active"] == format_number(feature["mean_activation"])
    assert stats["Active tokens"] == (
        f"{format_number(feature['n_active'])} of {format_number(feature['n_tokens'])}"
    )

    if feature["histogram_counts"]:
        assert data["histogram"]["counts"] == feature["histogram_counts"]
        assert data["histogram"]["edges"] == pytest.approx(feature["histogram_edges"])
        bars = [rect.text for rect in tree.root.find("marks")[0].children]
        edges, counts = data["histogram"]["edges"], data["histogram"]["counts"]
        assert bars == [
            f"{low:.2g}–{high:.2g}: {count:,} tokens"
            for low, high, count in zip(edges, edges[1:], counts, strict=False)
        ]

    # one Tab stop per group of snippets, on the first snippet's sampled word; links are not stops
    for group in [*_by_id(tree.root, "top-examples"), *tree.root.find("interval")]:
        assert "data-roving" in group.attrs
        stops = [w for w in group.find("tok") if w.attrs["tabindex"] == "0"]
        assert stops == [group.find("tokens")[0].find("sampled")[0]]
        assert {link.attrs["tabindex"] for link in group.find("example-doc")} == {"-1"}
    shown = tree.root.find("example")
    examples = [(e, "top") for e in data["top_examples"]]
    examples += [(e, "interval") for i in data["intervals"] for e in i["examples"]]
    assert len(examples) == len(stored) == len(shown)
    for (example, kind), element in zip(examples, shown, strict=True):
        _check_example(example, kind, stored)
        _check_snippet_html(element, tree, example, seeded.sae_slug, index)


def test_word_pieces_show_as_words_cut_at_word_boundaries(
    client: TestClient, seeded: SeededData
) -> None:
    """The reported case: "evide|nce", "dis|p|la|c|ed", "Low lung volum", and an interval
    sample whose own value (0.2) is not the snippet's maximum (2.0)."""
    tree, data = _page(client, f"/saes/{seeded.sae_slug}/features/{seeded.pieces_feature}")
    (top,) = data["top_examples"]
    assert top["start"] == 4 and top["tokens"] == PIECES[4:15]  # " of" ... " lung"
    top_words = tree.root.find("example")[0].find("tok")
    assert [tree.seen(word) for word in top_words] == ["displaced", "fracture"]
    (interval,) = data["intervals"]
    (sample,) = interval["examples"]
    assert (sample["sampled_value"], sample["max_value"]) == (0.2, 2.0)
    assert sample["sampled_offset"] == 1 and sample["max_offset"] == 7
    _, element = tree.root.find("example")
    assert tree.seen(element.find("example-sampled")[0]) == "marked token 0.2"
    assert tree.seen(element.find("example-max")[0]) == "snippet max 2"
    (marked,) = element.find("sampled")
    assert tree.seen(marked) == "displaced" and marked.attrs["data-v"] == "0.9"
    assert marked.attrs["data-tip"] == (
        "“displaced”: 0.9 (strongest piece; “ dis” 0.2 · “p” 0.9 · “la” 0.1 · “c” 0 · “ed” 0)"
        " · sampled token"
    )
    assert "volum" not in tree.seen(tree.root.find("tokens")[0])


def test_report_page_shows_the_whole_report_and_what_is_known(
    client: TestClient, seeded: SeededData
) -> None:
    path = f"/saes/{seeded.sae_slug}/features/{seeded.pieces_feature}/reports/report-3"
    tree, data = _page(client, path)
    assert data["tokens"] == PIECES
    known = {position: PIECE_VALUES[position] for position in range(3, 16)}
    assert data["values"] == [known.get(i) for i in range(len(PIECES))]
    assert data["n_known"] == len(known) == sum(v is not None for v in data["values"])
    assert data["max_value"] == max(known.values())
    assert [(s["start"], s["end"], s["kind"]) for s in data["known"]] == [
        (3, 16, "top"),
        (4, 12, "interval"),
    ]
    assert {s["sampled_position"] for s in data["known"]} == {11, 5}
    assert data["corpus"] == f"{seeded.sae_slug}-reports" and data["label"] == "pulmonary edema"

    (twin,) = [e for e in _all(tree.root) if e.tag == "link" and e.attrs.get("rel") == "alternate"]
    assert twin.attrs["href"] == "/api/v1" + path
    (report,) = tree.root.find("tokens")
    assert tree.seen(report) == "".join(PIECES)
    assert [tree.seen(u) for u in report.find("unknown")] == ["Findings:", "."]
    words = {tree.seen(w): w for w in report.find("tok")}
    assert {word: w.attrs["data-v"] for word, w in words.items()} == {
        "evidence": "0.5",
        "displaced": "0.9",
        "fracture": "2",
        "volumes": "0.7",
    }
    assert "unknown" in words["evidence"].attrs["data-tip"]  # " evide" lies outside the windows
    assert {w.attrs["id"] for w in report.find("sampled")} == {"t5", "t11"}
    stats = {
        tree.seen(d.children[0]): tree.seen(d.children[1])
        for d in tree.root.find("stats")[0].children
    }
    assert stats["Values known"] == f"{len(known)} of {len(PIECES)} tokens"

    # every example on the feature page links to its report, at its sampled word
    feature_page = Tree(client.get(f"/saes/{seeded.sae_slug}/features/3").text)
    links = {link.attrs["href"] for link in feature_page.root.find("example-doc")}
    assert links == {f"{path}#t11", f"{path}#t5"}


@pytest.mark.parametrize(
    "path",
    [
        "/saes/test-sae/features/3/reports/no-such-report",
        "/saes/test-sae/features/5/reports/report-3",  # stored, but no example of feature 5
        "/saes/test-sae/features/999/reports/report-3",
        "/saes/nope/features/3/reports/report-3",
    ],
)
def test_unknown_reports_are_404(client: TestClient, seeded: SeededData, path: str) -> None:
    for url in (path, "/api/v1" + path):
        response = client.get(url)
        assert response.status_code == 404, url
    assert "detail" in client.get("/api/v1" + path).json()


def test_report_ids_with_url_characters_round_trip(
    client: TestClient, session: Session, seeded: SeededData
) -> None:
    feature = session.scalars(select(Feature).where(Feature.index == seeded.pieces_feature)).one()
    corpus = session.scalars(select(Corpus)).first()
    document = make_document(session, corpus, "CXR 12/b#3?x=1&y", [" No", " effusion", "."])
    make_example(session, feature, document, start=0, values=[0.0, 1.5, 0.0])
    session.flush()
    page = Tree(client.get(f"/saes/{seeded.sae_slug}/features/{seeded.pieces_feature}").text)
    (link,) = [a for a in page.root.find("example-doc") if "CXR" in a.attrs["href"]]
    report = client.get(link.attrs["href"].split("#")[0])
    assert report.status_code == 200
    assert "Report CXR 12/b#3?x=1&amp;y" in report.text
    twin = client.get(report.headers["link"].split(">")[0].lstrip("<"))
    assert twin.status_code == 200 and twin.json()["document"] == "CXR 12/b#3?x=1&y"
