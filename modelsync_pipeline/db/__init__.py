"""PostgreSQL side of modelsync. Each module owns the statements of the `sql/` file of the same name:

    migrate         sql/migrate.sql + sql/migrations/   schema, applied once, in order
    stage_catalog   sql/stage_catalog.sql               a provider's validated catalog becomes its latest good one
    refresh_models  sql/refresh_models.sql              providers and models from the staged catalogs, one transaction
    admin           sql/admin.sql                       backups, flushes, reset, restore, approvals, audit, status
    catalog_read    sql/catalog_read.sql                what readers see, summarised for table and cache alike
    locks           sql/locks.sql                       what a waiting write waits for; a bound on holders outside modelsync

Every write that must be all-or-nothing is one transaction in these modules; the lifecycle around a write
to the catalog tables (guard, audit, counts) is `modelsync_pipeline.writes`. Python binds parameters and
never formats values into SQL by hand: what a statement cannot take as a parameter (a database name, an
exported snapshot) is composed with psycopg.sql.
"""

from .admin import (
    DEFAULT_BACKUP_RETENTION, AdminResult, Backup, Plan, approval_used, audit, audit_started, catalog_status, counts,
    counts_unless_locked, flush_models, flush_providers, plan_refresh, release_approval, reset_models_table,
    restore_backup, stopped_outcome, sync_providers, take_backup, unregistered_providers, use_approval,
)
from .catalog_read import table_checksum
from .locks import LockWatch, watch_locks
from .migrate import MigrationError, apply_migrations, current_session
from .refresh_models import RefreshResult, refresh_models_table
from .stage_catalog import (
    FAILED_OUTCOMES, StageResult, catalog_checksum, copy_rows, last_good_facts, last_good_row_count, record_failed_attempt,
    server_time, stage_provider_catalog, staged_providers, superseded,
)
from .statements import CLIENT_ENCODING, MIGRATIONS_DIR, SQL_DIR, abandon_if_busy, connect, first_line, raised, statements

__all__ = [
    "CLIENT_ENCODING", "DEFAULT_BACKUP_RETENTION", "FAILED_OUTCOMES", "MIGRATIONS_DIR", "SQL_DIR", "AdminResult", "Backup",
    "LockWatch", "Plan", "RefreshResult", "MigrationError", "StageResult", "abandon_if_busy", "apply_migrations",
    "approval_used", "audit", "audit_started", "catalog_checksum", "catalog_status", "connect", "copy_rows", "counts",
    "counts_unless_locked",
    "current_session", "first_line", "flush_models", "flush_providers", "last_good_facts", "last_good_row_count",
    "plan_refresh", "raised", "record_failed_attempt", "refresh_models_table", "release_approval",
    "reset_models_table", "restore_backup", "server_time", "stage_provider_catalog", "staged_providers",
    "statements", "stopped_outcome", "superseded", "sync_providers", "table_checksum", "take_backup", "unregistered_providers",
    "use_approval", "watch_locks",
]
