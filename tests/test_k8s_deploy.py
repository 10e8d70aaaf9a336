"""The Kubernetes deployment (deploy/): Helm values, image, secrets, as far as can be checked without a cluster.

No Kubernetes cluster, Docker daemon or Helm chart is reachable here, so this checks what is real on this
machine: the values' code location loads with `k8s_job_executor`; the run launcher config the chart renders
from the values passes dagster-k8s's own `K8sRunLauncher` schema; the run config passes the job's executor
schema; every secret the code reads comes from the Kubernetes secret and none is inlined; the Dockerfile's
files exist and build the package on their own.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, validate_config  # dagster has no public API for class config
from dagster_k8s import K8sRunLauncher

from modelsync_pipeline.definitions import defs as local_defs
from modelsync_pipeline.providers.registry import PROVIDERS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEPLOY = REPO_ROOT / "deploy"
SECRET_NAME = "modelsync-secrets"
# What the code reads that is a credential or points at one (the rest of the env is not secret).
CORE_SECRETS = {"DATABASE_URL", "REDIS_URL", "MODELSYNC_ADMIN_TOKEN"}


def provider_secret_vars() -> set[str]:
    names = set()
    for spec in PROVIDERS:
        if spec.auth is not None:
            names.add(spec.auth.env_var)
        names.update(spec.path_params_env.values())
    return names


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())


@pytest.fixture
def deployment(values) -> dict:
    (only,) = values["dagster-user-deployments"]["deployments"]
    return only


@pytest.fixture
def code_env(monkeypatch):
    """Placeholders for the env the code location resolves when a run's config is validated."""
    for name in CORE_SECRETS:
        monkeypatch.setenv(name, f"placeholder-{name.lower()}")


def render_run_launcher(values: dict, namespace: str = "modelsync") -> dict:
    """The `run_launcher.config` the chart writes into the instance's dagster.yaml for these values,
    as its helm/dagster/templates/helpers/instance/_run-launcher.tpl does for K8sRunLauncher."""
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    config = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or namespace,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": "dagster",
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"}]
                           + [m["name"] for m in k8s.get("envConfigMaps", []) if "name" in m],
    }
    if k8s.get("envSecrets"):
        config["env_secrets"] = [s["name"] for s in k8s["envSecrets"] if "name" in s]
    for key, target in (("envVars", "env_vars"), ("volumeMounts", "volume_mounts"), ("volumes", "volumes")):
        if k8s.get(key):
            config[target] = k8s[key]
    return config


def test_the_user_code_deployment_serves_the_k8s_code_location(deployment):
    args = deployment["dagsterApiGrpcArgs"]
    assert args[0] in ("--module-name", "-m")
    module = importlib.import_module(args[1])
    k8s_defs = module.defs
    assert k8s_defs.executor.name == "k8s"  # dagster-k8s's k8s_job_executor: a pod per step
    assert sorted(j.name for j in k8s_defs.jobs) == sorted(j.name for j in local_defs.jobs)
    assert {key for a in k8s_defs.assets for key in a.keys} == {key for a in local_defs.assets for key in a.keys}
    assert deployment["port"] == 3030 and deployment["image"]["repository"].endswith("/modelsync")
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True


def test_the_rendered_run_launcher_config_is_valid_for_dagster_k8s(values, monkeypatch):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    config = render_run_launcher(values)
    result = validate_config(K8sRunLauncher.config_type(), config)
    assert result.success, [e.message for e in result.errors]
    # and it resolves as the run launcher would in the cluster, where the chart sets these variables
    for name in ("DAGSTER_HOME", "DAGSTER_K8S_INSTANCE_CONFIG_MAP", "DAGSTER_K8S_PG_PASSWORD_SECRET",
                 "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"):
        monkeypatch.setenv(name, f"value-of-{name.lower()}")
    resolved = process_config(K8sRunLauncher.config_type(), config)
    assert resolved.success, [e.message for e in resolved.errors]
    assert resolved.value["env_secrets"] == [SECRET_NAME]

    # The schema is strict enough to catch a typo in what we render (the check can fail).
    broken = validate_config(K8sRunLauncher.config_type(), {**config, "env_secret": [SECRET_NAME]})
    assert not broken.success


def test_the_documented_run_config_is_valid_for_sync_all_on_k8s(code_env):
    k8s_defs = importlib.import_module("modelsync_pipeline.deploy.k8s").defs
    job = k8s_defs.resolve_job_def("sync_all")
    run_config = yaml.safe_load((DEPLOY / "k8s" / "run_config.yaml").read_text())
    dg.validate_run_config(job, run_config)  # raises DagsterInvalidConfigError when it is not

    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"execution": {"config": {"max_concurrent": "two"}}})


def test_every_secret_comes_from_the_kubernetes_secret_and_none_is_inlined(values, deployment):
    needed = CORE_SECRETS | provider_secret_vars()
    example = {}
    for line in (DEPLOY / "k8s" / "secret.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            example[key.strip()] = value
    assert set(example) == needed  # a new provider's key must be added to the secret's documented keys
    assert all(value == "" for value in example.values()), "secret.env.example must not hold values"

    assert deployment["envSecrets"] == [{"name": SECRET_NAME}]
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"] == [{"name": SECRET_NAME}]
    inline = {entry["name"] for entry in deployment.get("env", [])}
    assert not inline & needed, f"secrets inlined in values.yaml: {sorted(inline & needed)}"
    # Dagster's own storage password comes from a secret too, not from the values.
    assert values["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["global"]["postgresqlSecretName"]
    text = (DEPLOY / "k8s" / "values.yaml").read_text()
    assert not re.search(r"(?i)(password|token|api_key)\s*:\s*\S", text)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [tuple(line.split(None, 1)) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_dockerfile_builds_the_package_from_the_files_it_copies(tmp_path, deployment):
    instructions = _dockerfile_instructions()
    copies = [args.split()[:-1] for op, args in instructions if op == "COPY"]
    sources = [source for sources in copies for source in sources]
    assert sources and all((REPO_ROOT / source).exists() for source in sources), sources

    extras = re.search(r'ARG EXTRAS=(\S+)', (DEPLOY / "Dockerfile").read_text()).group(1)
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras.split(",")) <= set(declared) and "dagster-k8s" in " ".join(declared["k8s"])

    # The image serves the module the Helm values point at.
    (cmd,) = [args for op, args in instructions if op == "CMD"]
    assert deployment["dagsterApiGrpcArgs"][1] in cmd

    # Only the copied files, built as `pip install .` in the image builds them: the package is complete.
    context = tmp_path / "context"
    context.mkdir()
    for source in sources:
        target = context / source
        if (REPO_ROOT / source).is_dir():
            shutil.copytree(REPO_ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO_ROOT / source, target)
    uv = shutil.which("uv") or str(REPO_ROOT / ".modelsync" / "tools" / "bin" / "uv")
    build = subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(context)],
                           capture_output=True, text=True, timeout=300, env={**os.environ, "UV_NATIVE_TLS": "1"})
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("modelsync-*.whl"))
    listing = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)],
                             capture_output=True, text=True, check=True).stdout
    for member in ("modelsync_pipeline/deploy/k8s.py", "modelsync_pipeline/definitions.py",
                   "modelsync_pipeline/sql/", "modelsync_pipeline/dagster.yaml", "modelsync_pipeline/recorded/"):
        assert member in listing, f"{member} missing from the image's package"
