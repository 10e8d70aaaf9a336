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
