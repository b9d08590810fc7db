"""Serving the submission page: waitress, a production WSGI server, on 127.0.0.1 by default.

Behind a reverse proxy (HTTPS), give ``--proxy`` so the client's address (for counting failed
logins) and scheme come from the proxy's X-Forwarded-* headers, and set
WELFARE_WEB_SECURE_COOKIES=1.
"""

from __future__ import annotations

import signal
import threading

from werkzeug.middleware.proxy_fix import ProxyFix

from pipelines.settings import Settings, WebSettings
from pipelines.web.app import FORM_OVERHEAD, create_app
from pipelines.web.sending import MAX_UPLOAD_BYTES


def _warm_up() -> None:
    """great_expectations takes seconds to import: pay it now, not on the first upload."""
    import great_expectations  # noqa: F401


def _stop_on_sigterm() -> None:
    """A service manager stops the page with SIGTERM: finish the requests under way and exit,
    whatever disposition or mask the starting process passed down (one that ignores SIGTERM
    would leave the page running until it is killed)."""

    def stop(signum, frame):
        raise SystemExit(0)  # waitress closes its sockets and task threads on it

    signal.signal(signal.SIGTERM, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def serve(settings: Settings, host: str, port: int, behind_proxy: bool = False) -> None:
    import waitress

    app = create_app(settings, WebSettings.from_env(settings))
    if behind_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    _stop_on_sigterm()
    threading.Thread(target=_warm_up, daemon=True).start()
    print(f"Submission page: http://{host}:{port}/  (WELFARE_HOME {settings.home})", flush=True)
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=4,
        max_request_body_size=MAX_UPLOAD_BYTES + FORM_OVERHEAD,
        ident="welfare",
    )
