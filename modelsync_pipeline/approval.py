"""One-time approval codes for destructive jobs: an authority held outside Dagster.

The open-source Dagster UI has no login, so a typed confirmation phrase proves only that someone could reach
the UI. A destructive job (flush_models, flush_providers, reset_and_resync, restore_backup) also needs a code
that only a holder of the admin secret can make: `modelsync approve <job> [args]` prints

    <issued_at>.<nonce>.<hmac>

where the HMAC-SHA256, keyed with the secret, covers the job, its arguments, the time and the nonce. The job
recomputes it with the secret from its own environment (`MODELSYNC_ADMIN_TOKEN`), compares in constant time,
refuses a code older than its TTL or issued in the future, and records the code's hash so it is accepted once.
The secret never travels in run config (which Dagster stores in plain text); only the code does, and a code
is worthless for another job, other arguments, after its TTL, or a second time.

Pure: no Dagster, no I/O (the caller reads the secret and records used codes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Mapping

SECRET_ENV = "MODELSYNC_ADMIN_TOKEN"
DEFAULT_TTL_SECONDS = 600
CLOCK_SKEW_SECONDS = 60
MIN_SECRET_LENGTH = 16


# issue() writes the time as int() prints it: ASCII digits, no leading zero. int() also reads "0179...", "٠١٧٩..."
# (other scripts' digits) and " 179..." as the same time, and each such spelling of a used code would have
# been a new code to the record of used ones.
_CANONICAL_TIME = re.compile(r"[1-9][0-9]*")


class ApprovalRefused(ValueError):
    """Why a code does not approve this job with these arguments."""


def _message(job: str, args: Mapping[str, object], issued_at: int, nonce: str) -> bytes:
    return json.dumps({"job": job, "args": dict(args), "issued_at": issued_at, "nonce": nonce},
                      sort_keys=True, separators=(",", ":")).encode()


def _mac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_secret(secret: str | None) -> str:
    """The secret, or ApprovalRefused saying how to configure it."""
    if not secret:
        raise ApprovalRefused(
            f"destructive jobs need the admin secret {SECRET_ENV} in the code location's environment "
            f"(at least {MIN_SECRET_LENGTH} characters; `make ui` / `make job` generate one under the state "
            f"folder for a local set-up), and a code from `modelsync approve <job> ...` in config `approval`")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ApprovalRefused(f"{SECRET_ENV} is shorter than {MIN_SECRET_LENGTH} characters; use a random one")
    return secret


def issue(secret: str, job: str, args: Mapping[str, object], now: float | None = None) -> str:
    """A one-time code approving `job` with exactly `args`."""
    issued_at = int(time.time() if now is None else now)
    nonce = secrets.token_hex(8)
    return f"{issued_at}.{nonce}.{_mac(check_secret(secret), _message(job, args, issued_at, nonce))}"


def option(name: str) -> str:
    """The `modelsync approve` option that gives the bound argument `name` ("provider_count": "--provider-count")."""
    return f"--{name.replace('_', '-')}"


def verify(secret: str | None, code: str, job: str, args: Mapping[str, object], *, now: float | None = None,
           ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    """The code's fingerprint (to record it as used) if it approves `job` with `args` now; else ApprovalRefused."""
    secret = check_secret(secret)
    if not code:
        # The command as it must be typed: a code is bound to the job's arguments, which `approve` needs too.
        options = " ".join(f"{option(name)} {value}" for name, value in args.items())
        make = f"make approve J={job}" + (f' A="{options}"' if options else "")
        raise ApprovalRefused(f"config approval is empty: run `{' '.join(['modelsync approve', job, options]).strip()}` "
                              f"(in a checkout: `{make}`) where {SECRET_ENV} is set and paste the code it prints")
    parts = code.strip().split(".")
    if len(parts) != 3 or not _CANONICAL_TIME.fullmatch(parts[0]):
        raise ApprovalRefused("config approval is not a code printed by `modelsync approve`")
    issued_at, nonce, mac = int(parts[0]), parts[1], parts[2]
    expected = _mac(secret, _message(job, args, issued_at, nonce))
    if not hmac.compare_digest(expected, mac):
        raise ApprovalRefused(f"the approval code is not valid for {job} with {dict(args)} "
                              f"(made for another job, other arguments, or with another secret)")
    now = time.time() if now is None else now
    if issued_at > now + CLOCK_SKEW_SECONDS:
        raise ApprovalRefused("the approval code was issued in the future; check the clocks")
    if now - issued_at > ttl_seconds:
        raise ApprovalRefused(f"the approval code expired ({int(now - issued_at)} s old; codes last {ttl_seconds} s)")
    # The fingerprint of what the MAC covers, not of the text pasted: no other spelling of an accepted code
    # (which _CANONICAL_TIME also refuses) can be recorded as a new one and run the job again.
    return hashlib.sha256(f"{issued_at}.{nonce}.{mac}".encode()).hexdigest()
