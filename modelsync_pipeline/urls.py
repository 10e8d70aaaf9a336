"""URLs as they may be shown: in errors, logs, the status report and stored rows, never with a credential.

The domain (the cache, the reader, the CLI) names the server it failed to reach; the embedded-server harness
(local/services.py) prints the endpoints it chose. Both show database and cache URLs through `redact_url`.

A provider's base URL override (MODELSYNC_<SLUG>_BASE_URL) may carry a credential where the project cannot know
its layout: in a query parameter (`is_credential_name` says which), or in its path, as gateways put one
("https://gw.example.com/v1/<token>/openai", "https://host/key/<secret>/...", "https://host/t/<token>/"). The
rule for the path (`secret_path_segments`) is by shape, since no gateway's layout is known: a segment is shown
only when it reads as a word or a version ("openai", "chat-completions", "v1beta"); any other (a token, an id,
anything with a digit or a capital, longer than a word) is treated as secret, and so is any segment after one
that names a credential ("key/<x>", "token/<x>", "t/<x>"). Identifiers (an account id in the path) are hidden
with tokens: shown, a guess that one is no token would show a token. The registry's own URLs are public and
shown as written.
"""

from __future__ import annotations

import functools
import re
import urllib.parse


# Which query parameter names carry a credential, from how real APIs name them: a credential word, alone or
# qualified ("api key", "access token", "client secret"), however the words are written (api_key, x-api-key,
# apiKeyId, X-Amz-Signature, accessTokens, or run together: apikey, authtoken, clientsecret). The words: Google's
# `key`; OAuth's `access_token`/`refresh_token`/`id_token`, `client_secret`, `client_assertion`, `code_verifier` and
# its `code` (alone only: `country_code`, `zipcode` are data); AWS SigV4 presigned `X-Amz-Signature`,
# `X-Amz-Credential`, `X-Amz-Security-Token`; Azure SAS `sig`; generic `token`, `secret`, `password`/`passwd`/
# `pwd`, `auth`/`authorization`, `session`. A word is matched whole, never as the end of another ("encode",
# "monkey", "keyword" are no credentials), and a name of none of them is data: Azure's "api-version=2024-10-21",
# whose value, redacted, would rewrite every date in the stored records.
_CREDENTIAL_WORDS = frozenset({
    "key", "apikey", "accesskey", "secretkey", "privatekey", "token", "secret", "password", "passwd", "pwd", "pw",
    "pass", "passphrase", "sig", "sign", "signature", "auth", "oauth", "authorization", "credential", "session",
    "sessionid", "jwt", "bearer", "assertion", "verifier", "otp", "hmac", "cookie",
})
# Run together in one lowercase word ("authtoken", "clientsecret", "sessiontoken"): qualifiers, then a credential
# word. A qualifier is one of these, so "monkey" or "turkey" (an unknown word before "key") stays data.
_QUALIFIERS = ("api", "access", "auth", "oauth", "client", "app", "application", "private", "secret", "session",
               "refresh", "id", "bearer", "security", "subscription", "service", "account", "user", "admin", "master",
               "personal", "signing", "shared", "sas", "hapi", "x", "amz", "goog", "ms", "csrf", "xsrf")
_RUN_TOGETHER = re.compile(rf"(?:{'|'.join(_QUALIFIERS)})*"
                           rf"(?:{'|'.join(sorted(_CREDENTIAL_WORDS, key=len, reverse=True))})s?(?:id)?")
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")  # "X-Amz-Signature", "apiKeyId", "HTTPAuth"


def is_credential_name(name: str) -> bool:
    """Whether a query parameter (or a path segment before a value) named `name` carries a credential
    (_CREDENTIAL_WORDS): a word of the name is one, plural or with "id" after it included, or the whole name is
    `code` (OAuth's authorization code)."""
    words = [word.lower() for word in _NAME_WORDS.findall(name)]
    if words == ["code"]:
        return True
    return any(_RUN_TOGETHER.fullmatch(word) for word in words)


# A path segment shown as written: lowercase words joined by "-", "_" or "." ("openai", "chat-completions"), or a
# version ("v1", "v1beta", "v2.1", "v1alpha1"). A token of lowercase letters alone (no digit, no capital) reads as
# a word: it is hidden only after a segment that names a credential.
_PUBLIC_SEGMENT = re.compile(r"[a-z]+(?:[-_.][a-z]+)*|v[0-9]+(?:\.[0-9]+)*(?:(?:alpha|beta|preview)[0-9]*)?")
PUBLIC_SEGMENT_MAX = 32  # longer than a path word; as long as a token
# Segments that say a credential follows ("/t/<token>/", "/k/<key>/"), beside those is_credential_name takes.
_SHORT_ANNOUNCERS = frozenset({"t", "k", "s"})
HIDDEN_SEGMENT = "[redacted]"


def secret_path_segments(path: str) -> list[str]:
    """The segments of a base URL override's path that may be a credential, percent-decoded, as written too when
    that differs (see the module docstring for the rule)."""
    found: list[str] = []
    announced = False
    for raw in path.split("/"):
        segment = urllib.parse.unquote(raw)
        if not segment:
            continue
        public = len(segment) <= PUBLIC_SEGMENT_MAX and _PUBLIC_SEGMENT.fullmatch(segment) is not None
        if announced or not public:
            found += [segment, raw]
        # A word that names a credential announces the next segment; a token that holds such a word
        # ("gw9TOKEN3f7a") does not: it is hidden itself, and what follows it is read by its own shape.
        announced = public and not announced and (segment in _SHORT_ANNOUNCERS or is_credential_name(segment))
    return list(dict.fromkeys(found))


def hide_path_segments(path: str, secrets) -> str:
    """`path` with every segment that is one of `secrets` (as written or percent-decoded) replaced by
    HIDDEN_SEGMENT."""
    secrets = set(secrets)
    return "/".join(HIDDEN_SEGMENT if raw and (raw in secrets or urllib.parse.unquote(raw) in secrets) else raw
                    for raw in path.split("/"))


def hide_delimited(text: str, segments) -> str:
    """`text` with every one of `segments` (any length) replaced where it stands as a path segment: after "/" and
    before "/", "?", "#", a quote, a bracket, whitespace or the end. What a server echoes of a request's path (or
    a message quotes of a URL) is hidden so even when the segment is shorter than a redaction of it anywhere
    would be safe."""
    for segment in sorted(set(segments), key=len, reverse=True):
        text = re.sub(rf"(?<=/){re.escape(segment)}(?=[/?#'\"\s)\]>,;]|$)", HIDDEN_SEGMENT, text, flags=re.I)
    return text


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
