"""Documents for people (the overview page, an extract's README) come from Jinja templates in
``pipelines/templates/``. HTML is autoescaped: a ward or file name can never become markup."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2


def number(value: Any) -> str:
    """A quantity as people read it: 2,182; 0.5 → 0.5; 3.0 → 3."""
    if isinstance(value, float):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{value:,}"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipelines", "templates"),
        autoescape=jinja2.select_autoescape(["html", "html.j2"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["number"] = number
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
