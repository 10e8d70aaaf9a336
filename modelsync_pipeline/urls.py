"""Database and cache URLs as they may be shown: in errors, logs and the status report, never with a password.

The domain (the cache, the reader, the CLI) names the server it failed to reach; the embedded-server harness
(local/services.py) prints the endpoints it chose. Both show URLs through `redact_url`.
"""

from __future__ import annotations

import functools
import re
import urllib.parse


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (userinfo, ``?password=`` and libpq ``password=`` forms)."""
    if "://" not in url:  # libpq key=value conninfo
        return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)
    # The userinfo ends at the last "@", whatever the password holds: split by urlsplit, a password with an
    # unencoded "#", "?" or "/" ended the netloc inside it, and the whole password was shown.
    scheme, _, rest = url.partition("://")
    userinfo, at, hostinfo = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:***@{hostinfo}"
    parts = urllib.parse.urlsplit(f"{scheme}://{rest}")
    query = re.sub(r"(?i)((?:^|&)password=)[^&]*", r"\1***", parts.query)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


_PASSWORD_FIELD = re.compile(r"(?i)(?:^|[&\s?])password\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s]+)")  # query or conninfo


def url_passwords(url: str) -> list[str]:
    """The passwords a URL carries, as written and percent-decoded: its userinfo's (up to the last "@", as
    redact_url reads it) and its ``password=`` query or conninfo values."""
    found: list[str] = []
    if "://" in url:
        userinfo, at, _ = url.partition("://")[2].rpartition("@")
        if at and ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    found += [m.group(1).strip("'") for m in _PASSWORD_FIELD.finditer(url)]
    decoded = [urllib.parse.unquote(p) for p in found]
    return [p for p in dict.fromkeys(found + decoded) if p]


# The shortest part of a password a message is redacted of: a driver quotes the part it could not read ("invalid
# percent-encoded token: "ss%w"" for the password "p@ss%w:rd"), and shorter runs are common words' letters.
PASSWORD_PART_LENGTH = 4


def without_passwords(text: str, url: str) -> str:
    """`text` (a driver's message about `url`) with every password of the URL, and every run of
    PASSWORD_PART_LENGTH or more of its characters, replaced by ``***``: a URL the driver could not parse is
    quoted by it in pieces, which redact_url never sees."""
    return redact_runs(text, url_passwords(url), PASSWORD_PART_LENGTH, "***")


def _folded(text: str) -> str:
    """`text` case-folded character for character: a character whose fold is longer ("ß" -> "ss", "ﬁ" -> "fi") is
    lower-cased instead, or kept, so that every index of the result is the same character of `text`."""
    folded = text.casefold()
    if len(folded) == len(text):
        return folded
    return "".join(f if len(f := c.casefold()) == 1 else c.lower() if len(c.lower()) == 1 else c for c in text)


@functools.lru_cache(maxsize=64)
def _windows(secrets: tuple[str, ...], length: int) -> frozenset[str]:
    folded = [_folded(secret) for secret in secrets]
    return frozenset(secret[i:i + length] for secret in folded for i in range(len(secret) - length + 1))


def redact_runs(text: str, secrets, min_run: int, replacement: str) -> str:
    """`text` with every run of `min_run` or more characters of one of `secrets` (in any case) replaced, each run
    whole (every window of `min_run` characters in it is one of a secret's), and a secret shorter than that
    wherever it stands whole. What a driver or a provider quotes of a secret is often a part of it: a token it
    could not parse, a key's prefix or suffix. For short texts (messages, reasons): it looks at every character."""
    secrets = tuple(dict.fromkeys(secret for secret in secrets if secret))
    for secret in sorted((secret for secret in secrets if len(secret) < min_run), key=len, reverse=True):
        text = text.replace(secret, replacement)
    windows = _windows(secrets, min_run)
    if not windows or len(text) < min_run:
        return text
    # Folded character for character: one "ß" anywhere used to leave the whole text unfolded, and then no window
    # (folded) matched a secret's run in it, in its own case or any other.
    folded = _folded(text)
    parts, start, i = [], 0, 0
    while i <= len(text) - min_run:
        if folded[i:i + min_run] not in windows:
            i += 1
            continue
        end = i + min_run
        while end < len(text) and folded[end - min_run + 1:end + 1] in windows:
            end += 1
        parts += [text[start:i], replacement]
        start = i = end
    return "".join(parts) + text[start:]
