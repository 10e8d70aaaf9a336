"""The modelsync code location with each step run as its own Kubernetes job (dagster-k8s).

Deployed with Dagster's Helm chart (`deploy/k8s/values.yaml`): the user-code deployment serves this module
from the image built by `deploy/Dockerfile`; the `K8sRunLauncher` starts one pod per run, and
`k8s_job_executor` one pod per step inside it. Each pod gets the user-code deployment's env and the
`modelsync-secrets` Kubernetes secret (database, cache, admin secret, provider keys).

The executor is left unconfigured so a run can tune it in run config (`deploy/k8s/run_config.yaml`:
`max_concurrent`, per-step resources).
"""

from __future__ import annotations

from dagster_k8s import k8s_job_executor

from . import with_executor

defs = with_executor(k8s_job_executor)
