"""Database and cache URLs as they may be shown: in errors, logs and the status report, never with a password.

The domain (the cache, the reader, the CLI) names the server it failed to reach; the embedded-server harness
(local/services.py) prints the endpoints it chose. Both show URLs through `redact_url`.
"""

from __future__ import annotations

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
    for password in sorted(url_passwords(url), key=len, reverse=True):
        shortest = min(PASSWORD_PART_LENGTH, len(password))
        for length in range(len(password), shortest - 1, -1):
            for start in range(len(password) - length + 1):
                part = password[start:start + length]
                if part in text:
                    text = text.replace(part, "***")
    return text
