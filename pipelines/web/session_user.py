"""The logged-in account as Flask-Login sees it."""

from __future__ import annotations

from flask_login import UserMixin

from pipelines.web.accounts import Account
from pipelines.web.submitters import submitter


class SessionUser(UserMixin):
    def __init__(self, account: Account) -> None:
        self.account = account

    def get_id(self) -> str:
        # The account's current session token is part of the id: when it changes (logout,
        # new password, disabled account), every session holding the old one ends.
        return f"{self.account.username}:{self.account.session_token}"

    @property
    def is_admin(self) -> bool:
        return self.account.is_admin

    @property
    def submitter_name(self) -> str:
        found = submitter(self.account.submitter_code)
        return found.name if found else self.account.submitter_code
