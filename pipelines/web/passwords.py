"""What a password of the submission page must be, and why one is refused.

At least 12 characters; not mostly one character; not the account's name; not a password
people commonly use or one that is quick to guess. "Common" and "quick to guess" are judged by
zxcvbn (Dropbox's estimator: lists of leaked passwords, words and names, keyboard patterns,
dates and repeats), with the account's own name and display name as words it knows: a
password it scores below 3 of 4 ("safely unguessable: moderate protection from an offline
attack") is refused. Each refusal says why, in Japanese and English.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

MIN_LENGTH = 12
MAX_LENGTH = 128  # longer is no safer, and the estimator's time grows with the length
MIN_SCORE = 3  # zxcvbn's 0–4


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # imported when a password is set

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problems(password: str, username: str = "", display_name: str = "") -> list[str]:
    """Why ``password`` may not be used (empty: it may)."""
    if len(password) < MIN_LENGTH:
        return [
            f"パスワードは{MIN_LENGTH}文字以上にしてください（いま{len(password)}文字）。 / A "
            f"password needs at least {MIN_LENGTH} characters (this one has {len(password)})."
        ]
    if len(password) > MAX_LENGTH:
        return [
            f"パスワードは{MAX_LENGTH}文字までです。 / A password has at most {MAX_LENGTH} "
            "characters."
        ]
    problems = []
    most = Counter(password).most_common(1)[0][1]
    if most * 2 > len(password):
        problems.append(
            "同じ文字ばかりのパスワードは使えません。 / A password that is mostly one character "
            "cannot be used."
        )
    name = username.strip().casefold()
    if len(name) >= 3 and name in password.casefold():
        problems.append(
            "ユーザー名を含むパスワードは使えません。 / A password may not contain the user name."
        )
    if password.casefold() in _common_passwords():
        problems.append(
            "よく使われているパスワードです。別のものにしてください。 / This is a commonly used "
            "password: choose another."
        )
    if not problems:
        from zxcvbn import zxcvbn  # imported when a password is set, never at login

        inputs = [w for w in (username, display_name, *display_name.split()) if w.strip()]
        estimate = zxcvbn(password, user_inputs=inputs)
        if estimate["score"] < MIN_SCORE:
            hint = estimate["feedback"].get("warning") or "it is quick to guess"
            problems.append(
                "推測されやすいパスワードです。単語を4つ以上つなげるなど、長く予測しにくいものに"
                f"してください。 / This password is too easy to guess ({hint}): use a longer "
                "one, e.g. four or more unrelated words."
            )
    return problems
