"""Serving the submission page: waitress, a production WSGI server, on 127.0.0.1 by default.

Behind a reverse proxy (HTTPS), give ``--proxy`` so the client's address (for counting failed
logins) and scheme come from the proxy's X-Forwarded-* headers, and set
WELFARE_WEB_SECURE_COOKIES=1.

Uploads are checked by worker processes (:mod:`pipelines.web.checking`), started with the
server, so its four request threads only ever answer pages. Waitress refuses a request body
over MAX_REQUEST_BYTES with its own plain-text answer; below that the application answers an
upload over the page's limit with the site's own page, and the send page refuses such a file
before sending it.
"""

from __future__ import annotations

import signal

from werkzeug.middleware.proxy_fix import ProxyFix

from pipelines.foundation.settings import Settings, WebSettings
from pipelines.web.app import create_app, refuse_if_not_private
from pipelines.web.sending import MAX_UPLOAD_BYTES

THREADS = 4
# Far above the page's own limit (the application's 413 page answers in between); waitress
# spools a body to a temporary file while it arrives, so this bounds the disk a connection uses.
MAX_REQUEST_BYTES = 6 * MAX_UPLOAD_BYTES
CONNECTIONS = 50


class NotPrivate(RuntimeError):
    """The page's secrets are open to other users: the server does not start."""


def _stop_on_sigterm() -> None:
    """A service manager stops the page with SIGTERM: finish the requests under way and exit,
    whatever disposition or mask the starting process passed down (one that ignores SIGTERM
    would leave the page running until it is killed)."""

    def stop(signum, frame):
        raise SystemExit(0)  # waitress closes its sockets and task threads on it

    signal.signal(signal.SIGTERM, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def serve(settings: Settings, host: str, port: int, behind_proxy: bool = False) -> None:
    import waitress  # only the server needs it

    web = WebSettings.from_env(settings)
    if refusal := refuse_if_not_private(settings, web):
        raise NotPrivate(refusal)
    app = create_app(settings, web)
    if refusal := refuse_if_not_private(settings, web):  # as created, in case the umask won
        raise NotPrivate(refusal)
    if behind_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    _stop_on_sigterm()
    app.extensions["welfare"].checks.warm_up()  # before the first request is answered
    print(f"Submission page: http://{host}:{port}/  (WELFARE_HOME {settings.home})", flush=True)
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=THREADS,
        connection_limit=CONNECTIONS,
        max_request_body_size=MAX_REQUEST_BYTES,
        ident="welfare",
    )
