"""The HTML pages: each checked together with its JSON twin, escaping, errors and fragments."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.support.factories import SCRIPT_TOKEN, SeededData, make_feature, make_sae


class _Alternate(HTMLParser):
    """Collects the href of <link rel="alternate" type="application/json">."""

    def __init__(self) -> None:
        super().__init__()
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and values.get("rel") == "alternate":
            assert values.get("type") == "application/json"
            self.href = values.get("href")


def _page_and_twin(client: TestClient, path: str) -> tuple[str, dict]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    parser = _Alternate()
    parser.feed(response.text)
    assert parser.href, f"{path} has no JSON twin"
    assert response.headers["link"] == f'<{parser.href}>; rel="alternate"; type="application/json"'
    twin = client.get(parser.href)
    assert twin.status_code == 200
    assert twin.headers["content-type"] == "application/json"
    return response.text, twin.json()


def test_home(client: TestClient, seeded: SeededData) -> None:
    html, data = _page_and_twin(client, "/")
    assert data["data"][0]["slug"] == "test-sae"
    assert 'href="/saes/test-sae"' in html
    assert 'href="/saes/test-sae/features"' in html


def test_home_without_saes_keeps_commands_for_administrators(client: TestClient) -> None:
    html = client.get("/").text
    assert "Ask whoever runs this explorer to import one." in html
    admin = html[html.index("<details") : html.index("</details>")]
    assert "maira-sae demo" in admin and html.count("maira-sae") == admin.count("maira-sae")


def test_sae_overview(client: TestClient, seeded: SeededData) -> None:
    html, data = _page_and_twin(client, "/saes/test-sae")
    assert data["n_dead"] == 2
    assert f"ρ = {data['spearman_rho']:.3f}" in html
    assert html.count("<svg") == 3
    assert re.search(r"<dt>Dead \(never active\)</dt><dd>2</dd>", html)
    for bin_ in data["f1_histogram"]:
        if bin_["count"]:
            assert f"{bin_['count']:,} features</title>" in html


def test_sae_overview_draws_the_activation_density(client: TestClient, seeded: SeededData) -> None:
    html, data = _page_and_twin(client, "/saes/test-sae")
    bins = data["density_histogram"]
    assert sum(b["count"] for b in bins) == data["n_live"] == seeded.d_sae - len(seeded.dead)
    chart = html[html.index('id="activation-density-chart-desc"') :].split("</svg>")[0]
    drawn = [int(n.replace(",", "")) for n in re.findall(r": ([\d,]+) features</title>", chart)]
    assert drawn == [b["count"] for b in bins]
    assert ">10⁻³<" in chart and ">10⁻²<" in chart  # decade ticks of the log10 axis


def test_sae_overview_without_scores_says_so_instead_of_empty_charts(
    client: TestClient, session: Session
) -> None:
    sae = make_sae(session, "unscored", d_sae=3)
    for index in range(3):
        make_feature(session, sae, index, label=f"keywords: word {index}")
    html, data = _page_and_twin(client, "/saes/unscored")
    assert data["n_scored"] == 0
    assert data["n_f1_above_075"] is None and data["n_f1_below_05"] is None
    assert re.search(r'<dt>F1 above 0.75</dt><dd class="f1-above">–</dd>', html)
    assert re.search(r'<dt>F1 below 0.5</dt><dd class="f1-below">–', html)
    assert html.count("<svg") == 1  # activation density only: no F1 charts without scores
    assert "None of this SAE's labels has been tested yet" in html
    # The command line is only in the note for administrators, collapsed by default.
    admin = html[html.index("<details") : html.index("</details>")]
    assert "maira-sae import-autointerp CSV --sae unscored" in admin
    assert html.count("maira-sae") == admin.count("maira-sae")


def test_feature_list(client: TestClient, seeded: SeededData) -> None:
    html, data = _page_and_twin(client, "/saes/test-sae/features?q=heart&sort=-f1")
    labels = [row["label"] for row in data["data"]]
    assert labels == ["heart size and cardiomegaly", "normal heart size"]
    assert html.index(labels[0]) < html.index(labels[1])
    assert "<strong>2</strong> features match" in html
    assert 'value="heart"' in html
    assert '<option value="-f1" selected>' in html
    for control in ("filter-q", "filter-min-f1", "filter-max-f1", "filter-sort"):
        assert f'<label for="{control}"' in html


def test_feature_list_next_page_keeps_filters(client: TestClient, seeded: SeededData) -> None:
    html, data = _page_and_twin(client, "/saes/test-sae/features?sort=-f1&limit=3")
    assert len(data["data"]) == 3 and data["next_cursor"]
    link = re.search(r'<a rel="next" href="([^"]+)"', html)
    assert link is not None
    next_url = link.group(1).replace("&amp;", "&")
    assert "sort=-f1" in next_url and "limit=3" in next_url
    assert f"cursor={data['next_cursor']}" in next_url
    second_html, second = _page_and_twin(client, next_url)
    assert second["data"][0]["index"] not in {row["index"] for row in data["data"]}
    assert "First page" in second_html


def test_feature_list_fragment_pushes_page_url(client: TestClient, seeded: SeededData) -> None:
    response = client.get("/saes/test-sae/feature-rows?q=heart&min_f1=")
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="results"')
    assert "<html" not in response.text
    assert response.headers["hx-push-url"] == "/saes/test-sae/features?q=heart"
    assert "normal heart size" in response.text


def test_feature_list_bad_filters_are_explained(client: TestClient, seeded: SeededData) -> None:
    response = client.get("/saes/test-sae/features?min_f1=0.9&max_f1=0.1")
    assert response.status_code == 422
    assert "min_f1 must not exceed max_f1" in response.text
    assert 'value="0.9"' in response.text  # the form keeps what was typed
    fragment = client.get("/saes/test-sae/feature-rows?min_f1=abc")
    assert fragment.status_code == 422
    assert 'role="alert"' in fragment.text and "min_f1" in fragment.text
    assert "hx-push-url" not in fragment.headers


def test_feature_page(client: TestClient, seeded: SeededData) -> None:
    html, data = _page_and_twin(client, "/saes/test-sae/features/0")
    assert data["label"] == "pleural effusion"
    assert '<h1 class="feature-label">pleural effusion</h1>' in html
    assert 'rel="next" href="/saes/test-sae/features/1"' in html
    assert 'rel="prev"' not in html
    # the strongest word: full highlight, marked as the sampled token, its value for the tooltip
    assert (
        '<span class="tok sampled" tabindex="0" data-v="4.5" data-tip="“left”: 4.5 · '
        'sampled token" aria-describedby="token-tip" style="--a:1.00">left<span' in html
    )
    assert 'data-v="1.5" data-tip="“pleural”: 1.5"' in html
    assert 'style="--a:0.33">pleural</span>' in html
    assert "Interval 0.5–1.5" in html and "(contains 25% of active tokens)" in html
    assert "Held-out" in html and "Train" in html
    assert html.index('class="split-heldout"') < html.index('class="split-train"')
    assert 'href="/saes/test-sae/features/1"><span class="n-index">#1</span>' in html
    assert "heart size and cardiomegaly" in html  # the neighbour's label
    assert "<kbd>j</kbd>" in html


def test_dead_feature_page(client: TestClient, seeded: SeededData) -> None:
    html, data = _page_and_twin(client, f"/saes/test-sae/features/{seeded.dead[0]}")
    assert data["dead"]
    assert "never fired" in html


def test_tokens_are_escaped(client: TestClient, seeded: SeededData) -> None:
    html, data = _page_and_twin(client, f"/saes/test-sae/features/{seeded.script_feature}")
    assert SCRIPT_TOKEN in data["top_examples"][0]["tokens"]
    assert SCRIPT_TOKEN not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_search_page(client: TestClient, seeded: SeededData) -> None:
    html, data = _page_and_twin(client, "/search?q=pleural")
    assert data["count"] == 2
    assert "2 labels match “pleural”" in html
    assert 'href="/saes/test-sae/features/0">pleural effusion</a>' in html
    empty = client.get("/search")
    assert empty.status_code == 200 and 'id="search-q"' in empty.text


def test_search_page_jumps_to_a_named_feature(client: TestClient, seeded: SeededData) -> None:
    response = client.get("/search?q=test-sae/7")
    assert response.status_code == 303
    assert response.headers["location"] == "/saes/test-sae/features/7"


def test_search_query_is_escaped(client: TestClient, seeded: SeededData) -> None:
    html = client.get("/search", params={"q": SCRIPT_TOKEN}).text
    assert SCRIPT_TOKEN not in html


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/saes/nope", 404, "There is no SAE named &#39;nope&#39;."),
        ("/saes/test-sae/features/999", 404, "SAE &#39;test-sae&#39; has 40 features"),
        ("/saes/test-sae/features/x", 422, "index"),
        ("/no/such/page", 404, "Not Found"),
    ],
)
def test_friendly_error_pages(
    client: TestClient, seeded: SeededData, path: str, status: int, message: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text
    assert "start from the list of SAEs" in response.text


def test_htmx_is_served_locally_when_vendored(client: TestClient, seeded: SeededData) -> None:
    from app.main import STATIC_DIR

    html = client.get("/").text
    if (STATIC_DIR / "htmx.min.js").is_file():
        assert '<script src="/static/htmx.min.js" defer></script>' in html
        assert client.get("/static/htmx.min.js").status_code == 200
    else:
        assert "unpkg.com/htmx.org@2" in html
    assert client.get("/static/app.css").status_code == 200


def test_feature_page_shows_the_first_top_examples(client: TestClient, seeded: SeededData) -> None:
    html = client.get("/saes/test-sae/features/2").text
    assert html.count('class="example"') == 20
    assert "Show 5 more top activations" in html
    assert 'hx-select="#top-examples"' in html
    everything = client.get("/saes/test-sae/features/2?examples=all").text
    assert everything.count('class="example"') == 25
    assert "more top activations" not in everything
    assert len(client.get("/api/v1/saes/test-sae/features/2").json()["top_examples"]) == 25
