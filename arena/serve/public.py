"""What anyone who reaches the port may see: the server has no login, so its responses carry
no absolute paths, git commits or hardware (the CLI and the night reports keep them), and its
API documentation is served from the installed package's files, never from a CDN.

``scrub`` rewrites a JSON-ready value for a response: paths inside the workspace become
relative (``adapters/tic_tac_toe/tiny/v1``), other absolute paths keep only their last
component (``.../model.safetensors``), and the keys that describe the machine or the source
tree (``git``, ``hardware``, ``environment``) are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

PRIVATE_KEYS = frozenset({"git", "hardware", "environment"})
# an absolute path inside a message: "/" then at least one more "/"-separated component
_ABSOLUTE = re.compile(r"(?<![\w.:/])(/[^\s'\"(),;:]+)")


def scrub_text(text: str, root: Path) -> str:
    """``text`` with the workspace root made relative and other absolute paths shortened."""
    text = text.replace(str(root) + "/", "").replace(str(root), "WORKSPACE")

    def short(match: re.Match) -> str:
        path = match.group(1)
        return path if path.count("/") < 2 else ".../" + path.rstrip("/").rsplit("/", 1)[-1]

    return _ABSOLUTE.sub(short, text)


def scrub(value, root: Path):
    """A response body with nothing that describes the machine (see the module docstring)."""
    if isinstance(value, dict):
        return {k: scrub(v, root) for k, v in value.items() if k not in PRIVATE_KEYS}
    if isinstance(value, list | tuple):
        return [scrub(v, root) for v in value]
    if isinstance(value, str):
        return scrub_text(value, root)
    if isinstance(value, Path):
        return scrub_text(str(value), root)
    return value


def add_docs(app, static_url: str = "/static-docs") -> bool:
    """Swagger UI at ``/docs`` and ReDoc at ``/redoc`` from the ``fastapi-offline`` package's
    copies of their files (FastAPI's own pages load them from a CDN, and Swagger UI would ask
    an online validator about the schema: ``validatorUrl`` is switched off). Without that
    package both pages are off; ``/openapi.json`` is always served. Returns whether they are
    on."""
    try:
        from importlib.resources import files

        static = Path(str(files("fastapi_offline") / "static"))
    except (ImportError, ModuleNotFoundError, TypeError):
        return False
    if not (static / "swagger-ui-bundle.js").is_file():
        return False
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount(static_url, StaticFiles(directory=static), name="static-docs")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: API",
            swagger_js_url=f"{static_url}/swagger-ui-bundle.js",
            swagger_css_url=f"{static_url}/swagger-ui.css",
            swagger_favicon_url=f"{static_url}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc():
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: API",
            redoc_js_url=f"{static_url}/redoc.standalone.js",
            redoc_favicon_url=f"{static_url}/favicon.png",
            with_google_fonts=False,
        )

    return True
