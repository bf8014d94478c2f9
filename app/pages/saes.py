"""HTML pages for SAEs: the home page listing them and one SAE's overview."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from app.deps import SaeDep, SessionDep
from app.pages.charts import density_grid, histogram, log_histogram
from app.schemas.saes import SaeSummary
from app.services.saes import list_saes, sae_summary
from app.templating import path_for, render

router = APIRouter()


@router.get("/", name="home")
def home_page(request: Request, session: SessionDep) -> HTMLResponse:
    saes = list_saes(session)
    return render(request, "index.html", {"saes": saes}, json_url=path_for(request, "api_saes"))


def summary_charts(summary: SaeSummary) -> dict[str, object]:
    """The overview's SVG charts, drawn from the summary the API returns."""
    f1_chart = histogram(
        [(b.f1_min, b.f1_max, b.count) for b in summary.f1_histogram],
        description=f"Histogram of detection F1 over {summary.n_scored:,} scored features.",
        x_label="detection F1 of the feature's label",
    )
    rho = "n/a" if summary.spearman_rho is None else f"{summary.spearman_rho:.2f}"
    grid = density_grid(
        [
            (c.log10_frequency_min, c.log10_frequency_max, c.f1_min, c.f1_max, c.count)
            for c in summary.frequency_f1
        ],
        description=f"Frequency against detection F1 for {summary.n_rho:,} scored live features; "
        f"Spearman's rho {rho}.",
    )
    activation_density = log_histogram(
        [
            (b.log10_frequency_min, b.log10_frequency_max, b.count)
            for b in summary.density_histogram
        ],
        description=f"Histogram of how often each of {summary.n_live:,} live features fires "
        "(share of report tokens, log scale).",
        x_label="frequency: share of tokens where the feature fires (log scale)",
    )
    return {
        "f1_chart": f1_chart,
        "density_chart": grid,
        "activation_density_chart": activation_density,
    }


@router.get("/saes/{sae}", name="sae_page")
def sae_page(request: Request, sae: SaeDep, session: SessionDep) -> HTMLResponse:
    summary = sae_summary(session, sae=sae)
    context = {"summary": summary, "sae": sae, **summary_charts(summary)}
    return render(request, "sae.html", context, json_url=path_for(request, "api_sae", sae=sae.slug))
