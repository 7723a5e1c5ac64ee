"""The one place that decides between a whole page and a fragment of it."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request
from jinja2_fragments.flask import render_block, render_blocks


def is_htmx() -> bool:
    # A boosted navigation wants the whole page; a targeted request wants a fragment. A history
    # restore (Back after the cache was evicted) also wants the whole page: htmx swaps it in
    # as the body.
    return (
        request.headers.get("HX-Request") == "true"
        and not request.headers.get("HX-Boosted")
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(template: str, block: str | list[str] | None = None, **context: Any) -> str:
    """Render the page, or only `block` (or several blocks: the target and its out-of-band
    companions) of the same template for an htmx request."""
    if block and is_htmx():
        if isinstance(block, list):
            return render_blocks(template, block, **context)
        return render_block(template, block, **context)
    return render_template(template, **context)


# The request headers a page's answer depends on (the same URL answers a page or a fragment).
_VARY = ("HX-Request", "HX-Boosted", "HX-History-Restore-Request")


def init_app(app: Flask) -> None:
    @app.after_request
    def _vary(response: Response) -> Response:
        # One update: each `vary.add` parsed and rewrote the header again.
        response.vary.update(_VARY)
        return response
