"""Failed logins are slowed, then locked, without locking out anybody but the account tried.

Guessing is slowed where it happens, and nobody is locked out by somebody else's failures:

- **The account tried.** From browsers it has not logged in from before, an account's failed
  logins within 15 minutes first slow it down (after 3, the next attempt waits 1 s, then
  2, 4 … up to 60 s after the last failure), then lock it for 15 minutes (after 10).
- **The address.** An address with 20 failed logins within 15 minutes (one city office's
  proxy carries every ward's clerks) is slowed, not locked: it may try once every 5 s.
  A correct password for an account that is not itself locked still logs in.
- **Trusted browsers.** A browser that logged in to an account is given a signed cookie (kept
  180 days); from it, that account logs in whatever others did. Its own failures count
  against it alone: after 10 within 15 minutes it is trusted no more.

An attempt refused by these rules is answered "too many requests" (429) with the time to wait
and is not checked against the password, so the refusals cost an attacker his guesses. The
failures live in the page's database: they survive a restart and are shared by its threads.
(Why not a rate limiter such as Flask-Limiter: these rules depend on which account was tried,
on the browser's trust and on the outcome of each attempt, which a limiter keyed by request
does not know; the counts belong with the accounts.)
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from pipelines.web.database import Database, iso, now

WINDOW = dt.timedelta(minutes=15)
ACCOUNT_SLOW_AFTER = 3
ACCOUNT_LOCK_AFTER = 10
MAX_DELAY = dt.timedelta(seconds=60)
ADDRESS_SLOW_AFTER = 20
ADDRESS_INTERVAL = dt.timedelta(seconds=5)
DEVICE_LOCK_AFTER = 10
DEVICE_COOKIE = "welfare_device"
DEVICE_DAYS = 180


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is not even checked, and when to try again."""

    message: str
    retry_after: int  # seconds

    @property
    def status(self) -> int:
        return 429


class LoginGuard:
    def __init__(self, db: Database, secret: str) -> None:
        self.db = db
        self._signer = URLSafeTimedSerializer(secret, salt="welfare-trusted-browser")

    # -- trusted browsers ---------------------------------------------------------------------
    def trusted_cookie(self, username: str) -> str:
        """The cookie a browser keeps after logging in to ``username``."""
        return self._signer.dumps({"u": username, "d": secrets.token_urlsafe(12)})

    def trusted_device(self, cookie: str | None, username: str) -> str | None:
        """The browser's id when its cookie is valid for ``username`` and it has not failed
        too often itself; else None (an untrusted attempt)."""
        if not cookie:
            return None
        try:
            payload = self._signer.loads(cookie, max_age=DEVICE_DAYS * 86400)
        except BadSignature:
            return None
        if not isinstance(payload, dict) or payload.get("u") != username:
            return None
        device = str(payload.get("d", ""))
        with self.db.read() as db:
            failures = db.execute(
                "select count(*) from login_failures where device = ? and failed_at >= ?",
                (device, iso(now() - WINDOW)),
            ).fetchone()[0]
        return device if device and failures < DEVICE_LOCK_AFTER else None

    # -- the rules ------------------------------------------------------------------------------
    def refusal(self, username: str, address: str, device: str | None) -> Refusal | None:
        """Why this attempt may not be made now (None: it may)."""
        if device is not None:
            return None
        moment = now()
        since = iso(moment - WINDOW)
        with self.db.read() as db:
            account = db.execute(
                "select count(*), max(failed_at) from login_failures "
                "where username = ? and device is null and failed_at >= ?",
                (username, since),
            ).fetchone()
            address_row = db.execute(
                "select count(*), max(failed_at) from login_failures "
                "where address = ? and device is null and failed_at >= ?",
                (address, since),
            ).fetchone()
        count, last = account[0], account[1]
        if count >= ACCOUNT_LOCK_AFTER:
            until = dt.datetime.fromisoformat(last) + WINDOW
            minutes = max(1, math.ceil((until - moment).total_seconds() / 60))
            return Refusal(
                f"このアカウントはログインの失敗が続いたため、{minutes}分間ログインできません。"
                "以前にこのアカウントでログインしたブラウザからはログインできます。パスワードが"
                "わからないときは市社協に再設定を依頼してください。 / This account had too many "
                f"failed logins: it is locked for {minutes} more minute(s), except from a "
                "browser that has logged in to it before. Ask the council to reset the password "
                "if it is lost.",
                int((until - moment).total_seconds()) + 1,
            )
        if count >= ACCOUNT_SLOW_AFTER:
            delay = min(dt.timedelta(seconds=2 ** (count - ACCOUNT_SLOW_AFTER)), MAX_DELAY)
            ready = dt.datetime.fromisoformat(last) + delay
            if moment < ready:
                return _wait(ready - moment, "このアカウント", "this account")
        if address_row[0] >= ADDRESS_SLOW_AFTER:
            ready = dt.datetime.fromisoformat(address_row[1]) + ADDRESS_INTERVAL
            if moment < ready:
                return _wait(ready - moment, "この場所（アドレス）から", "this address")
        return None

    def failed(self, username: str, address: str, device: str | None) -> None:
        with self.db.write() as db:
            db.execute("delete from login_failures where failed_at < ?", (iso(now() - WINDOW),))
            db.execute(
                "insert into login_failures (username, address, failed_at, device) "
                "values (?, ?, ?, ?)",
                (username, address, iso(now()), device),
            )

    def succeeded(self, username: str, device: str | None) -> None:
        """A correct password from a browser: its own failures, and the account's failures
        from untrusted browsers, are forgiven (the person got it right)."""
        with self.db.write() as db:
            db.execute(
                "delete from login_failures where username = ? and (device is null or device = ?)",
                (username, device or ""),
            )


def _wait(left: dt.timedelta, where_ja: str, where_en: str) -> Refusal:
    seconds = max(1, math.ceil(left.total_seconds()))
    return Refusal(
        f"{where_ja}のログインの失敗が続いたため、少し間をあけています。{seconds}秒後にもう一度"
        f"試してください。 / Too many failed logins for {where_en}: try again in {seconds} "
        "second(s).",
        seconds,
    )
