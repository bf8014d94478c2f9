"""HTML pages for features: the filterable list (with its htmx fragment) and the feature page."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import PydanticUseDefault
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from app.deps import FeatureIndexDep, SaeDep, SessionDep
from app.errors import describe_error
from app.pages.charts import Chart, histogram
from app.schemas.features import ExampleOut, FeatureDetail, FeatureQuery
from app.schemas.saes import SaeRef
from app.services.feature_list import InvalidCursor, list_features
from app.services.features import get_feature
from app.templating import path_for, render, render_block

router = APIRouter()

SORT_CHOICES = {
    "index": "Index",
    "-f1": "F1, highest first",
    "f1": "F1, lowest first",
    "-frequency": "Frequency, highest first",
    "frequency": "Frequency, lowest first",
}
TOP_SHOWN = 20  # top examples on a feature page before "show more" (the JSON twin has them all)
FORM_FIELDS = ("q", "min_f1", "max_f1", "min_frequency_pct", "max_frequency_pct", "sort")
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
    context: dict[str, Any] = {"sae": sae, "form": form, "sort_choices": SORT_CHOICES, "errors": []}
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


# (text, value, alpha): a run of inactive tokens (value and alpha None) or one active token with
# its value and highlight strength. Plain tuples: a page builds about a thousand of them.
Segment = tuple[str, str | None, str | None]


def highlight(example: ExampleOut, scale: float) -> list[Segment]:
    """The example as segments: inactive tokens merged, active ones with value / scale (<= 1)."""
    tokens, values = example.tokens, example.values
    segments: list[Segment] = []
    start = 0
    for position in [i for i, value in enumerate(values) if value > 0]:
        if position > start:
            segments.append(("".join(tokens[start:position]), None, None))
        value = values[position]
        segments.append((tokens[position], f"{value:.3g}", f"{min(value / scale, 1.0):.2f}"))
        start = position + 1
    if start < len(tokens):
        segments.append(("".join(tokens[start:]), None, None))
    return segments


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
        "top_examples": [(e, highlight(e, scale)) for e in feature.top_examples[:shown]],
        "hidden_top": max(0, len(feature.top_examples) - shown),
        "intervals": [
            (interval, [(e, highlight(e, scale)) for e in interval.examples])
            for interval in feature.intervals
        ],
    }
    json_url = path_for(request, "api_feature", sae=sae.slug, index=index)
    return render(request, "feature.html", context, json_url=json_url)
