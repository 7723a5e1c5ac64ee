"""Compressed responses (Flask-Compress), without leaking static files.

Flask-Compress reads a file response's body and never closes the file under it. Reading
the (small) static file here first, and closing it, keeps workers from leaking handles.
"""

from __future__ import annotations

from flask import Flask, Response

from portal.extensions import compress


def init_app(app: Flask) -> None:
    compress.init_app(app)
    mimetypes = set(app.config["COMPRESS_MIMETYPES"])

    # Registered after Flask-Compress, so it runs before it (after_request runs in reverse).
    @app.after_request
    def _read_files_first(response: Response) -> Response:
        if response.direct_passthrough and response.mimetype in mimetypes:
            body = response.response
            try:
                data = b"".join(body)  # type: ignore[arg-type]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
            response.direct_passthrough = False
            response.set_data(data)
        return response
