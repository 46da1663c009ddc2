"""infra/ checked offline: every manifest parses, has the kinds and fields a cluster
needs, agrees with the others (names, image, Ray version, settings), and names only
real entrypoints: each ``python -m jobs.X`` is a module here and each ``flywheel VERB``
a registered command."""

from __future__ import annotations

import importlib
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import ray
import yaml

from flywheel.cli import cli
from flywheel.config import Settings
from flywheel.submit.package import find_checkout, job_module, submittable_verbs
from tests.submit.registration import ensure_submit_commands

CHECKOUT = find_checkout()
INFRA = CHECKOUT / "infra"
KUBERAY = INFRA / "kuberay"
IMAGE = "flywheel:0.1.0"  # kustomize rewrites it to the real registry
# Commands another package defines that flywheel/cli.py does not register yet (the
# loop lands beside this); each is checked against its own module until it is.
PENDING: dict[str, str] = {}  # verbs whose commands are not registered yet


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    ensure_submit_commands()


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def kinds(path: Path) -> dict[str, dict[str, Any]]:
    """``{kind/name: manifest}`` of a Kubernetes YAML file."""
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs(path)}


def command(verb: str) -> click.Command:
    if verb in cli.commands:
        return cli.commands[verb]
    if verb in PENDING:
        found = getattr(importlib.import_module(PENDING[verb]), verb, None)
        if isinstance(found, click.Command):
            return found
    raise AssertionError(f"`flywheel {verb}` is not a command (registered: {sorted(cli.commands)})")


def containers(pod_template: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod_template["spec"]["containers"])


# --- everything parses --------------------------------------------------------------


def test_every_yaml_file_in_infra_parses() -> None:
    files = sorted(INFRA.rglob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        assert docs(path), f"{path} is empty"


def test_the_kuberay_files_hold_the_expected_kinds() -> None:
    assert set(kinds(KUBERAY / "settings.yaml")) == {
        "ConfigMap/flywheel-settings",
        "PersistentVolumeClaim/flywheel-shared",
    }
    assert set(kinds(KUBERAY / "secrets.example.yaml")) == {
        "Secret/flywheel-ray-auth",
        "Secret/flywheel-storage",
    }
    assert set(kinds(KUBERAY / "raycluster.yaml")) == {"RayCluster/flywheel"}
    assert set(kinds(KUBERAY / "loop" / "rayjob.yaml")) == {"RayJob/flywheel-loop"}


# --- the RayCluster -----------------------------------------------------------------


def _cluster() -> dict[str, Any]:
    return kinds(KUBERAY / "raycluster.yaml")["RayCluster/flywheel"]


def _pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    spec = _cluster()["spec"]
    yield "head", spec["headGroupSpec"]["template"]
    for group in spec["workerGroupSpecs"]:
        yield group["groupName"], group["template"]
    job = kinds(KUBERAY / "loop" / "rayjob.yaml")["RayJob/flywheel-loop"]
    yield "submitter", job["spec"]["submitterPodTemplate"]


def test_raycluster_has_a_cpu_and_a_gpu_worker_group_and_autoscales() -> None:
    spec = _cluster()["spec"]
    assert spec["rayVersion"] == ray.__version__
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu"}
    for group in groups.values():
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]

    gpu = containers(groups["gpu"]["template"])[0]["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == gpu["requests"]["nvidia.com/gpu"] == "1"
    tolerations = groups["gpu"]["template"]["spec"]["tolerations"]
    assert any(t["key"] == "nvidia.com/gpu" for t in tolerations)
    cpu = containers(groups["cpu"]["template"])[0]["resources"]
    assert "nvidia.com/gpu" not in cpu["limits"]


def test_every_container_runs_the_one_image_with_settings_and_the_ray_token() -> None:
    for name, template in _pod_templates():
        for container in containers(template):
            assert container["image"] == IMAGE, name
            env = {e["name"]: e for e in container.get("env", [])}
            assert env["RAY_AUTH_MODE"]["value"] == "token", name
            token_ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
            assert token_ref == {"name": "flywheel-ray-auth", "key": "auth_token"}, name
            if name == "submitter":
                continue  # it only talks to the Jobs API
            sources = {(kind, ref["name"]) for e in container["envFrom"] for kind, ref in e.items()}
            assert sources == {
                ("configMapRef", "flywheel-settings"),
                ("secretRef", "flywheel-storage"),
            }, name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/data", "/dev/shm"} <= mounts, name


def test_every_secret_configmap_and_claim_referenced_is_defined() -> None:
    defined = kinds(KUBERAY / "settings.yaml") | kinds(KUBERAY / "secrets.example.yaml")
    text = (KUBERAY / "raycluster.yaml").read_text() + (
        KUBERAY / "loop" / "rayjob.yaml"
    ).read_text()
    for kind, name in re.findall(r"(secretKeyRef|secretRef|configMapRef): \{name: ([\w-]+)", text):
        wanted = "ConfigMap" if kind == "configMapRef" else "Secret"
        assert f"{wanted}/{name}" in defined, name
    for key in re.findall(r"secretKeyRef: \{name: flywheel-ray-auth, key: (\w+)\}", text):
        assert key in defined["Secret/flywheel-ray-auth"]["stringData"]
    for claim in re.findall(r"claimName: ([\w-]+)", text):
        assert f"PersistentVolumeClaim/{claim}" in defined
        assert "ReadWriteMany" in defined[f"PersistentVolumeClaim/{claim}"]["spec"]["accessModes"]


def test_the_settings_give_a_cluster_size_config() -> None:
    """ConfigMap + Secret, read the way every flywheel process reads its environment."""
    configmap = kinds(KUBERAY / "settings.yaml")["ConfigMap/flywheel-settings"]["data"]
    secret = kinds(KUBERAY / "secrets.example.yaml")["Secret/flywheel-storage"]["stringData"]
    environ = {**configmap, **secret}
    assert all(k.startswith(("FLYWHEEL_", "AWS_")) for k in environ), sorted(environ)
    settings = Settings.from_env(environ=environ)
    assert settings.catalog_uri.startswith("postgresql+psycopg2://")
    assert settings.warehouse_is_s3
    assert str(settings.root) == "/data/flywheel"
    assert settings.s3.access_key_id == "CHANGE_ME"


def test_the_kustomizations_name_existing_files_and_the_image() -> None:
    for folder in (KUBERAY, KUBERAY / "loop"):
        (kustomization,) = docs(folder / "kustomization.yaml")
        for resource in kustomization["resources"]:
            assert (folder / resource).is_file(), resource
        assert "secrets.example.yaml" not in kustomization["resources"]  # never applied
        assert [i["name"] for i in kustomization["images"]] == [IMAGE.split(":")[0]]


# --- the RayJob for the loop ----------------------------------------------------------


def test_the_rayjob_runs_the_loop_on_the_raycluster() -> None:
    job = kinds(KUBERAY / "loop" / "rayjob.yaml")["RayJob/flywheel-loop"]["spec"]
    assert job["clusterSelector"] == {"ray.io/cluster": _cluster()["metadata"]["name"]}
    assert shlex.split(job["entrypoint"])[:3] == ["python", "-m", "jobs.loop"]


# --- the Ray cluster launcher (AWS) -------------------------------------------------


def test_the_aws_launcher_config_has_cpu_and_gpu_workers_and_token_auth() -> None:
    (config,) = docs(INFRA / "aws" / "cluster.yaml")
    assert config["provider"]["type"] == "aws"
    assert config["docker"]["image"].endswith("/" + IMAGE)
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}
    gpu = [t for t in types.values() if t["resources"].get("GPU")]
    assert gpu and all("--gpus all" in t["docker"]["worker_run_options"] for t in gpu)
    assert any(t["node_config"]["InstanceType"].startswith("m") for t in types.values())
    head_start = " ".join(config["head_start_ray_commands"])
    assert "ray start --head" in head_start and "--dashboard-host=127.0.0.1" in head_start
    # The env file (settings and RAY_AUTH_TOKEN) reaches every container.
    assert "--env-file /home/ubuntu/flywheel.env" in config["docker"]["run_options"]
    assert any("flywheel.env" in c for c in config["initialization_commands"])


def test_the_iam_policy_covers_the_bucket_of_the_settings() -> None:
    policy = json.loads((INFRA / "aws" / "iam-policy.json").read_text())
    warehouse = kinds(KUBERAY / "settings.yaml")["ConfigMap/flywheel-settings"]["data"][
        "FLYWHEEL_WAREHOUSE"
    ]
    bucket = warehouse.removeprefix("s3://").split("/")[0]
    resources = [r for s in policy["Statement"] for r in [s["Resource"]]]
    assert f"arn:aws:s3:::{bucket}" in resources and f"arn:aws:s3:::{bucket}/*" in resources


def test_the_image_runs_the_pinned_ray_and_carries_the_entrypoints() -> None:
    dockerfile = (INFRA / "docker" / "Dockerfile").read_text()
    base = re.search(r"ARG RAY_IMAGE=rayproject/ray:([\d.]+)-py(\d+)", dockerfile)
    assert base and base.group(1) == ray.__version__ and base.group(2) == "311"
    for folder in ("flywheel", "jobs", "schemas"):
        assert f"COPY --chown=ray:users {folder} ./{folder}" in dockerfile


# --- entrypoints named anywhere in infra/ are real ----------------------------------


def _infra_texts() -> Iterator[tuple[Path, str]]:
    for path in sorted(INFRA.rglob("*")):
        if path.is_file():
            yield path, path.read_text()


def _yaml_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _yaml_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _yaml_strings(value)


def test_every_job_module_named_in_infra_exists_and_imports() -> None:
    # Lower case only: `python -m jobs.VERB` in prose is a placeholder.
    pattern = re.compile(r"python -m (jobs\.[a-z_]+)\b(?!\.)")
    named = {m for _, text in _infra_texts() for m in pattern.findall(text)}
    assert "jobs.loop" in named
    for module in named:
        assert (CHECKOUT / (module.replace(".", "/") + ".py")).is_file(), module
        importlib.import_module(module)


def test_every_job_entrypoint_in_the_manifests_parses_as_its_command() -> None:
    """The flags in YAML entrypoints are options the command really has."""
    checked = 0
    for path in sorted(INFRA.rglob("*.yaml")):
        for text in (s for d in docs(path) for s in _yaml_strings(d)):
            if not text.startswith("python -m jobs."):
                continue
            _, _, module, *args = shlex.split(text)
            verb = next(v for v in [*cli.commands, *PENDING] if job_module(v) == module)
            command(verb).make_context(verb, list(args))  # raises on an unknown option
            checked += 1
    assert checked >= 1


def _shell_commands(markdown: str) -> Iterator[list[str]]:
    """The commands in a Markdown file's code blocks, as argument lists."""
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", markdown, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip().rstrip("&").strip()
            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
            while words and re.fullmatch(r"(export\s+)?[A-Z_][A-Z0-9_]*=.*", words[0]):
                words = words[1:]
            if words[:1] == ["export"]:
                continue
            if words:
                yield words


def _after_options(words: list[str], options_with_values: set[str]) -> list[str]:
    while words and words[0].startswith("-"):
        flag = words.pop(0)
        if flag in options_with_values and "=" not in flag:
            words.pop(0)
    return words


def test_every_flywheel_command_in_the_guide_is_registered() -> None:
    verbs = set(submittable_verbs(CHECKOUT, [*cli.commands, *PENDING]))
    jobs_group = cli.commands["jobs"]
    assert isinstance(jobs_group, click.Group)
    seen = []
    for path, text in _infra_texts():
        if path.suffix != ".md":
            continue
        for words in _shell_commands(text):
            if words[0] != "flywheel":
                continue
            rest = _after_options(words[1:], {"--root", "--ray-address"})
            verb = rest[0]
            command(verb)
            if verb == "submit":
                rest = _after_options(rest[1:], {"--address", "--token"})
                assert rest[0] in verbs, f"{path}: flywheel submit {rest[0]}: no such job"
            if verb == "jobs":
                assert rest[1] in jobs_group.commands, f"{path}: flywheel jobs {rest[1]}"
            seen.append(verb)
    assert {"submit", "jobs"} <= set(seen)
