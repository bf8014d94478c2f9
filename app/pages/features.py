"""HTML pages for features: the filterable list (with its htmx fragment) and the feature page."""

from __future__ import annotations

import itertools
from typing import Any, Literal, NamedTuple
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import PydanticUseDefault
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from app.deps import FeatureIndexDep, SaeDep, SessionDep
from app.errors import describe_error
from app.pages.charts import Chart, histogram
from app.paths import ReportPath
from app.schemas.features import ExampleOut, FeatureDetail, FeatureQuery
from app.schemas.saes import SaeRef
from app.services.feature_list import InvalidCursor, list_features
from app.services.features import get_feature
from app.services.reports import feature_report, unknown_report
from app.services.steering_studies import steering_studies_of_feature
from app.templating import path_for, render, render_block
from db.words import word_starts

router = APIRouter()

SORT_CHOICES = {
    "index": "Index",
    "-f1": "F1, highest first",
    "f1": "F1, lowest first",
    "-frequency": "Frequency, highest first",
    "frequency": "Frequency, lowest first",
    "-review": "Mean rating, highest first",
    "review": "Mean rating, lowest first",
}
REVIEW_CHOICES = {
    "": "Any",
    "unreviewed": "Unreviewed",
    "reviewed": "Reviewed",
    "disputed": "Disputed",
}
TOP_SHOWN = 20  # top examples on a feature page before "show more" (the JSON twin has them all)
FORM_FIELDS = (
    "q",
    "min_f1",
    "max_f1",
    "min_frequency_pct",
    "max_frequency_pct",
    "review",
    "sort",
)
PERCENT_FIELDS = {"min_frequency_pct": "min_frequency", "max_frequency_pct": "max_frequency"}


class PercentFilters(BaseModel):
    """The page's frequency bounds, in percent of tokens as the list shows them."""

    min_frequency_pct: float | None = Field(None, ge=0, le=100)
    max_frequency_pct: float | None = Field(None, ge=0, le=100)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault()
        return value


def _page_filters(query: FeatureQuery) -> dict[str, Any]:
    """The query's filters as the page's URL states them (frequencies in percent)."""
    filters = query.filters()
    for percent, fraction in PERCENT_FIELDS.items():
        if fraction in filters:
            filters[percent] = f"{filters.pop(fraction) * 100:.6g}"
    if query.limit != FeatureQuery.model_fields["limit"].default:
        filters["limit"] = query.limit
    return filters


def _list_context(request: Request, sae: SaeRef, session: SessionDep) -> tuple[dict[str, Any], int]:
    """The list page's context from the raw query string, and its status (422 on bad filters).

    Filters are validated here rather than by FastAPI so that mistakes are shown next to the form.
    The page takes frequencies in percent (as its column shows them); the API takes fractions.
    """
    fields = FeatureQuery.model_fields
    params = request.query_params
    fractions = set(PERCENT_FIELDS.values())  # the API's names; the page reads percent only
    raw = {key: value for key, value in params.items() if key in fields and key not in fractions}
    form = {name: params.get(name, "") for name in FORM_FIELDS}
    form["sort"] = form["sort"] or "index"
    context: dict[str, Any] = {
        "sae": sae,
        "form": form,
        "sort_choices": SORT_CHOICES,
        "review_choices": REVIEW_CHOICES,
        "errors": [],
    }
    try:
        percent = PercentFilters.model_validate({name: form[name] for name in PERCENT_FIELDS})
        for name, fraction in PERCENT_FIELDS.items():
            if getattr(percent, name) is not None:
                raw[fraction] = getattr(percent, name) / 100
        query = FeatureQuery.model_validate(raw)
        page = list_features(session, sae=sae, query=query)
    except ValidationError as error:
        context["errors"] = [describe_error(dict(e)) for e in error.errors()]
    except InvalidCursor as error:
        context["errors"] = [str(error)]
    if context["errors"]:
        context["filters"] = {k: v for k, v in params.items() if k in FORM_FIELDS and v}
        context["api_filters"] = {}
        return context, 422
    filters = _page_filters(query)
    context.update(
        page=page,
        filters=filters,
        api_filters=query.model_dump(exclude_defaults=True),
        cursor=query.cursor,
        next_query={**filters, "cursor": page.next_cursor} if page.next_cursor else None,
        previous_query={**filters, "cursor": page.previous_cursor}
        if page.previous_cursor
        else None,
        first_page=query.cursor is not None and page.page > 1,
    )
    return context, 200


@router.get("/saes/{sae}/features", name="features_page")
async def features_page(request: Request, sae: SaeDep, session: SessionDep) -> HTMLResponse:
    context, status = await run_in_threadpool(_list_context, request, sae, session)
    json_url = path_for(request, "api_features", context["api_filters"], sae=sae.slug)
    return render(request, "features.html", context, json_url=json_url, status_code=status)


@router.get("/saes/{sae}/feature-rows", name="feature_rows")
async def feature_rows_fragment(request: Request, sae: SaeDep, session: SessionDep) -> HTMLResponse:
    """The results block of the list page alone, for htmx; the browser shows the page's URL."""
    context, status = await run_in_threadpool(_list_context, request, sae, session)
    page_query = {**context["filters"], "cursor": context.get("cursor")}
    page_url = path_for(request, "features_page", page_query, sae=sae.slug)
    response = render_block(request, "features.html", "results", context, status_code=status)
    if status == 200:
        response.headers["HX-Push-Url"] = page_url
    return response


def activation_chart(feature: FeatureDetail) -> Chart | None:
    """The activation histogram of a feature as chart geometry, when it has one."""
    if feature.histogram is None:
        return None
    edges, counts = feature.histogram.edges, feature.histogram.counts
    bins = [(edges[i], edges[i + 1], counts[i]) for i in range(min(len(counts), len(edges) - 1))]
    return histogram(
        bins,
        description=f"Activations of feature {feature.index:,} where it is active.",
        x_label="activation",
        y_label="tokens",
    )


class Word(NamedTuple):
    """One shown word, or a run of plain words, with how to shade it when the feature is active."""

    text: str
    offset: int
    """Position of its first token among the tokens shown."""
    value: str | None = None
    """Strongest piece's value (3 significant digits); None for a run of plain words."""
    alpha: str | None = None
    """Highlight strength, strongest piece / scale (<= 1)."""
    tip: str | None = None
    """The word's pieces and their values, for hover and focus."""
    sampled: bool = False
    """The word holds the token the example was chosen for."""
    known: bool = True
    """False for a run of words whose values were not stored (report page)."""
    stop: bool = False
    """The one word of its snippet reached by Tab (the others by arrow keys)."""


def _tip(word: str, peak: float, pieces: list[str], values: list[float | None]) -> str:
    """“evidence” 0.0706 (strongest piece; “evide” 0.0128 · “nce” 0.0706)."""
    tip = f"“{word}”: {peak:.3g}"
    if len(pieces) > 1:
        parts = " · ".join(
            f"“{piece}” {'unknown' if value is None else f'{value:.3g}'}"
            for piece, value in zip(pieces, values, strict=True)
        )
        tip += f" (strongest piece; {parts})"
    return tip


def words(
    tokens: list[str],
    values: list[float | None],
    starts: list[int],
    scale: float,
    sampled: frozenset[int] = frozenset(),
) -> list[Word]:
    """The tokens as words (word pieces joined), each active word shaded by its strongest piece.

    Consecutive inactive words (value 0) merge into one plain run, and so do words with unknown
    values (None); a word holding a `sampled` offset is always its own entry. A word's leading
    space stays outside its highlight.
    """
    shown: list[Word] = []
    run: list[str] = []  # the plain run being gathered
    run_known, run_offset = True, 0

    def end_run() -> None:
        if run:
            shown.append(Word("".join(run), run_offset, known=run_known))
            run.clear()

    bounds = [*starts, len(tokens)]
    for first, last in itertools.pairwise(bounds):
        piece_values = values[first:last]
        if last - first == 1:
            peak = piece_values[0]
        else:
            peak = max((v for v in piece_values if v is not None), default=None)
        holds_sampled = bool(sampled) and any(first <= offset < last for offset in sampled)
        if peak is None or (peak <= 0 and not holds_sampled):
            known = peak is not None
            if run and known != run_known:
                end_run()
            if not run:
                run_known, run_offset = known, first
            run.extend(tokens[first:last])
            continue
        pieces = tokens[first:last]
        text = "".join(pieces)
        body = text.lstrip() or text
        if len(body) < len(text):
            if run and not run_known:
                end_run()
            if not run:
                run_known, run_offset = True, first
            run.append(text[: len(text) - len(body)])
        end_run()
        tip = _tip(body, peak, pieces, piece_values)
        if holds_sampled:
            tip += " · sampled token"
        alpha = f"{min(peak / scale, 1.0):.2f}" if scale > 0 else "0"
        shown.append(Word(body, first, f"{peak:.3g}", alpha, tip, holds_sampled))
    end_run()
    active = [i for i, word in enumerate(shown) if word.value is not None]
    if active:
        stop = next((i for i in active if shown[i].sampled), active[0])
        shown[stop] = shown[stop]._replace(stop=True)
    return shown


def example_words(example: ExampleOut, scale: float) -> list[Word]:
    """An example's words, its sampled token's word marked."""
    return words(
        example.tokens,
        example.values,
        word_starts(example.tokens),
        scale,
        frozenset({example.sampled_offset}),
    )


def highlight_scale(feature: FeatureDetail) -> float:
    """The value shown at full highlight: the largest value among the shown examples."""
    shown = [e.max_value for e in feature.top_examples]
    shown += [e.max_value for interval in feature.intervals for e in interval.examples]
    return max(shown, default=0.0) or feature.max_activation or 1.0


@router.get("/saes/{sae}/features/{index}", name="feature_page")
async def feature_page(
    request: Request,
    sae: SaeDep,
    index: FeatureIndexDep,
    session: SessionDep,
    examples: Literal["top", "all"] = "top",
) -> HTMLResponse:
    """The feature page; the first TOP_SHOWN top examples unless `examples=all`."""
    feature = await run_in_threadpool(get_feature, session, sae=sae, index=index)
    if feature is None:
        raise HTTPException(
            status_code=404, detail=f"Feature {index:,} of SAE {sae.slug} has no stored data."
        )
    scale = highlight_scale(feature)
    shown = len(feature.top_examples) if examples == "all" else TOP_SHOWN
    context = {
        "sae": sae,
        "feature": feature,
        "activation_chart": activation_chart(feature),
        "scale": scale,
        "top_examples": [(e, example_words(e, scale)) for e in feature.top_examples[:shown]],
        "hidden_top": max(0, len(feature.top_examples) - shown),
        "intervals": [
            (interval, [(e, example_words(e, scale)) for e in interval.examples])
            for interval in feature.intervals
        ],
        "steering_studies": await run_in_threadpool(
            steering_studies_of_feature, session, sae.slug, index
        ),
    }
    json_url = path_for(request, "api_feature", sae=sae.slug, index=index)
    return render(request, "feature.html", context, json_url=json_url)


@router.get("/saes/{sae}/features/{index}/reports/{document:path}", name="feature_report_page")
async def feature_report_page(
    request: Request, sae: SaeDep, index: FeatureIndexDep, document: ReportPath, session: SessionDep
) -> HTMLResponse:
    """A whole report with the feature's values where its stored example windows know them."""
    report = await run_in_threadpool(
        feature_report, session, sae=sae, index=index, document=document
    )
    if report is None:
        raise HTTPException(status_code=404, detail=unknown_report(sae, index, document))
    sampled = frozenset(span.sampled_position for span in report.known)
    context = {
        "sae": sae,
        "report": report,
        "words": words(
            report.tokens, report.values, report.word_starts, report.max_value or 1.0, sampled
        ),
    }
    json_url = path_for(
        request, "api_feature_report", sae=sae.slug, index=index, document=quote(document)
    )
    return render(request, "feature_report.html", context, json_url=json_url)
