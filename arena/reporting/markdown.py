"""The markdown reports people read, rendered from Jinja2 templates (``templates/*.md``).

``night.md`` (``nights/<id>/report.md``), ``gate.md`` (``runs/<run>/gate.md``) and
``tournament.md`` (``runs/<run>/report.md``): the code computes the numbers and the tables, the
template lays them out, so the shape of a report is read in one file rather than assembled
from list appends. Undefined names fail (``StrictUndefined``) instead of printing nothing;
``fmt`` applies a Python format spec (``{{ score | fmt(".3f") }}`` is ``f"{score:.3f}"``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # markdown, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = format
    return env


def render(name: str, **context) -> str:
    """Template ``name`` (``night.md``, ``gate.md``, ``tournament.md``) with ``context``."""
    return _environment().get_template(name).render(**context)
