"""Jinja2 set-up: the template environment, URL helpers, number formats and page rendering."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
HTMX_CDN = "https://unpkg.com/htmx.org@2.0.11/dist/htmx.min.js"
PATH_CACHE_SIZE = 50_000


def with_query(path: str, query: dict[str, Any] | None = None) -> str:
    """`path` with the non-empty entries of `query` appended as a query string."""
    pairs = {key: value for key, value in (query or {}).items() if value not in (None, "")}
    return f"{path}?{urlencode(pairs)}" if pairs else path


def path_for(
    request: Request, name: str, query: dict[str, Any] | None = None, **params: Any
) -> str:
    """The site-relative URL of the route `name`, optionally with a query string."""
    return with_query(str(request.app.url_path_for(name, **params)), query)


def _cached_paths() -> Any:
    """A `url(name, query, **params)` template global that remembers route paths.

    Routes are fixed once the app is built, and resolving one walks the route table, which adds
    up on a page with dozens of links; the cache is bounded.
    """
    paths: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}

    @pass_context
    def url(context: Context, name: str, query: dict[str, Any] | None = None, **params: Any) -> str:
        key = (name, tuple(sorted((k, str(v)) for k, v in params.items())))
        path = paths.get(key)
        if path is None:
            if len(paths) >= PATH_CACHE_SIZE:
                paths.clear()
            path = paths[key] = str(context["request"].app.url_path_for(name, **params))
        return with_query(path, query)

    return url


def format_number(value: float | int | None, digits: int = 3) -> str:
    """A number for people: thousands separators, `digits` significant decimals, dash if missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def format_percent(value: float | None, digits: int = 3) -> str:
    """A share in [0, 1] as a percentage with `digits` significant digits."""
    if value is None:
        return "–"
    if value == 0:
        return "0%"
    return f"{value * 100:.{digits}g}%"


@pass_context
def csrf_token(context: Context) -> str:
    """This browser's CSRF token (set by app.auth.guard; empty on pages rendered before it)."""
    return getattr(context["request"].state, "csrf_token", "")


@pass_context
def csrf_field(context: Context) -> Markup:
    """The hidden form field every POST form carries."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token(context))


@pass_context
def signed_in_user(context: Context) -> Any:
    """The signed-in user, or None."""
    return getattr(context["request"].state, "user", None)


def make_templates(static_dir: Path) -> Jinja2Templates:
    """The template renderer; htmx comes from /static when vendored, else from a CDN, and
    Swagger UI only from /static (the docs page says when it is missing)."""
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    env = templates.env
    env.autoescape = True
    env.trim_blocks = True
    env.lstrip_blocks = True
    env.globals["url"] = _cached_paths()
    env.globals["with_query"] = with_query
    env.globals["htmx_local"] = (static_dir / "htmx.min.js").is_file()
    env.globals["htmx_cdn"] = HTMX_CDN
    env.globals["swagger_local"] = (static_dir / "swagger" / "swagger-ui-bundle.js").is_file()
    env.globals["csrf_token"] = csrf_token
    env.globals["csrf_field"] = csrf_field
    env.globals["signed_in_user"] = signed_in_user
    env.filters["num"] = format_number
    env.filters["pct"] = format_percent
    return templates


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    json_url: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page; `json_url` names its JSON twin in a <link> and a Link header."""
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(
        request, name, {**context, "json_url": json_url}, status_code=status_code
    )
    if json_url:
        response.headers["Link"] = f'<{json_url}>; rel="alternate"; type="application/json"'
    return response


def render_block(
    request: Request, name: str, block: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render one named block of a page template (an htmx fragment without its own file)."""
    templates: Jinja2Templates = request.app.state.templates
    template = templates.env.get_template(name)
    block_context = template.new_context({**context, "request": request})
    html = "".join(template.blocks[block](block_context))
    return HTMLResponse(html, status_code=status_code)
