"""A Dagster logger that prints only the pipeline's own progress lines, for the `modelsync run` terminal.

Dagster's console logger prints every engine event; an operator watching `make run` wants one line per
provider step (fetched, validated, written) and the warnings, which is what this one keeps.
"""

import logging
import re
import sys

import dagster as dg


# Dagster's own warning when a provider that failed yields no checks (dagster-io/dagster#28461): it names the
# checks' internal output names and reads like a bug; the provider's failure has its own line already.
_ENGINE_NOISE = re.compile(r"op '[^']+' did not yield or return expected outputs ")


class _ProgressHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        if meta.get("dagster_event") is not None:
            return
        message = meta.get("orig_message") or record.getMessage()
        if _ENGINE_NOISE.match(message):
            return
        prefix = "" if record.levelno < logging.WARNING else f"{record.levelname}: "
        print(f"  {prefix}{message}", file=sys.stdout, flush=True)


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="One line per pipeline progress message; engine events are left to the event log.",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("modelsync.progress", level=init_context.logger_config["log_level"])
    logger.addHandler(_ProgressHandler())
    return logger
