"""What a run planned to execute, read from its execution plan: the staging step warns when its run publishes
nothing, and the publish sensors judge what a failed or re-executed run meant to do."""

import dagster as dg

TABLE_STEP = "models_table"  # the step key of the models_table asset (defs/catalog.py)


def plans_step(instance: dg.DagsterInstance, run: dg.DagsterRun, step_key: str = TABLE_STEP) -> bool:
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    return plan is not None and step_key in plan.step_keys_to_execute


def table_config(run: dg.DagsterRun) -> dict:
    """The run's config of the models_table step, as launched ({} if none was given)."""
    return ((run.run_config or {}).get("ops", {}).get(TABLE_STEP) or {}).get("config") or {}
