"""docker-compose.yml and the Dockerfile, read without a Docker engine: the compose file is
valid Compose (parsed strictly by the `compose-spec` wheel, the Rust compose_spec library), every
service is built from the repo, configured only with settings that exist and that it accepts in
production, health-checked, started after its dependencies, and scalable behind one proxy."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
import yaml
from compose_spec import PyOptions

from tests.deploy.support import ROOT, assert_real_settings, build_settings
from ticketloop_embedded.services import SERVICES, WORKSPACE

# One worker runs this module: its module-scoped fixture is built once, not once per worker.
pytestmark = pytest.mark.xdist_group("unit-deployment")

COMPOSE = ROOT / "docker-compose.yml"
NGINX = ROOT / "deploy" / "compose" / "nginx.conf"
# The ports README.md's tour uses, one per service, now published by the proxy.
PUBLISHED = {"intake": 8001, "routing": 8002, "sla": 8003, "feedback": 8004, "retrospective": 8005, "workspace": 8006}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def validate_compose(text: str) -> None:
    """Parse as the Compose specification, with YAML merge keys applied, and check references."""
    PyOptions(apply_merge=True).from_yaml(text).validate()


def test_the_compose_file_is_valid_compose() -> None:
    validate_compose(COMPOSE.read_text())


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ("restart: unless-stopped", "restart: sometimes"),
        ("condition: service_healthy", "condition: healthy"),
        ("interval: 10s", "intervall: 10s"),
        ('- "8001:8001"', '- "80x1:8001"'),
    ],
)
def test_an_invalid_compose_file_is_refused(good: str, bad: str) -> None:
    text = COMPOSE.read_text()
    assert good in text
    with pytest.raises(ValueError):
        validate_compose(text.replace(good, bad, 1))


def test_kafka_runs_in_kraft_mode_and_postgres_is_health_checked(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "ZOOKEEPER" not in str(kafka["environment"]).upper()
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "services create their topics"
    assert compose["services"]["postgres"]["healthcheck"]["test"]
    assert kafka["healthcheck"]["test"]


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_each_service_is_built_from_the_repo_and_configured_with_real_settings(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = compose["services"][name]
    assert service["build"]["args"]["SERVICE"] == name
    assert (ROOT / "services" / name / "pyproject.toml").exists()
    assert service["healthcheck"]["test"] and "/health/ready" in str(service["healthcheck"]["test"])
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = service["environment"]
    assert_real_settings(name, env)
    own_prefix = f"TICKETLOOP_{name.upper()}_"
    assert env["TICKETLOOP_ENV"] == "production"
    assert env[f"{own_prefix}HTTP_HOST"] == "0.0.0.0"
    assert env[f"{own_prefix}DATABASE_URL"].endswith(f"/ticketloop_{name}")
    if name == "intake":  # production refuses to start without the key that wraps customers' data keys
        assert env["TICKETLOOP_INTAKE_MASTER_KEY"].startswith("${TICKETLOOP_INTAKE_MASTER_KEY:?")
    if name == "feedback":  # and without the one that wraps what customers wrote in surveys
        assert env["TICKETLOOP_FEEDBACK_MASTER_KEY"].startswith("${TICKETLOOP_FEEDBACK_MASTER_KEY:?")
    # The service accepts this environment in production once the operator's variables are set.
    operator = {
        "TICKETLOOP_AUTH_SECRET": "a" * 48,
        "TICKETLOOP_INTAKE_MASTER_KEY": "m" * 48,
        "TICKETLOOP_FEEDBACK_MASTER_KEY": "f" * 48,
        "POSTGRES_PASSWORD": "pw",
        "TICKETLOOP_FEEDBACK_PUBLIC_BASE_URL": "https://feedback.example.com",
        "TICKETLOOP_METRICS_TOKEN": "t" * 24,
    }
    settings: Any = build_settings(name, {k: interpolate(str(v), operator) for k, v in env.items()}, monkeypatch)
    assert settings.platform.env == "production"


def test_the_workspace_is_built_from_the_repo_needs_no_database_and_calls_the_services_inside(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = WORKSPACE.name
    service = compose["services"][name]
    assert service["build"]["args"]["SERVICE"] == name and not WORKSPACE.has_database
    assert (ROOT / "services" / name / "pyproject.toml").exists()
    assert "/health/ready" in str(service["healthcheck"]["test"])
    assert set(service["depends_on"]) == {"intake", "routing"}, "no database, no broker"
    env = service["environment"]
    assert_real_settings(name, env)
    assert not any("DATABASE_URL" in key for key in env)
    for other in SERVICES:
        assert env[f"TICKETLOOP_WORKSPACE_{other.name.upper()}_URL"] == f"http://{other.name}:8000"
    operator = {"TICKETLOOP_AUTH_SECRET": "a" * 48, "TICKETLOOP_METRICS_TOKEN": "t" * 24}
    settings: Any = build_settings(name, {k: interpolate(str(v), operator) for k, v in env.items()}, monkeypatch)
    assert settings.platform.env == "production" and settings.http_host == "0.0.0.0"


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (an unset required one fails)."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if name in variables:
            return variables[name]
        assert op != ":?", f"{name} is required: {rest}"
        return rest if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def test_the_topics_are_created_with_the_partition_count(compose: dict[str, Any]) -> None:
    partitions = compose["x-platform-env"]["TICKETLOOP_TOPIC_PARTITIONS"]
    assert interpolate(partitions, {}) == "12"
    assert interpolate(partitions, {"TICKETLOOP_TOPIC_PARTITIONS": "24"}) == "24"


def test_no_service_publishes_a_host_port_and_one_proxy_reaches_them_all(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in PUBLISHED:
        assert "ports" not in services[name], f"{name} could not be scaled with a fixed host port"
        assert "container_name" not in services[name]
    proxy = services["proxy"]
    assert sorted(proxy["ports"]) == [f"{p}:{p}" for p in sorted(PUBLISHED.values())]
    mount = next(v for v in proxy["volumes"] if v.endswith(":/etc/nginx/nginx.conf:ro"))
    assert (ROOT / mount.split(":")[0]).resolve() == NGINX
    conf = NGINX.read_text()
    assert "resolver 127.0.0.11" in conf, "resolved at request time, so new replicas are seen"
    servers = re.findall(r"listen (\d+);\s+location / \{\s+set \$upstream http://(\w+):8000;", conf)
    assert {name: int(port) for port, name in servers} == PUBLISHED


def test_the_dockerfile_installs_the_service_named_by_its_build_arg_and_runs_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG SERVICE" in dockerfile
    # the lock's versions constrain the image (its hashes stripped: pip cannot hash local packages)
    assert "requirements.lock > constraints.txt" in dockerfile and "-c constraints.txt" in dockerfile
    assert "python -m ticketloop_${SERVICE}" in dockerfile
    # Kubernetes' runAsNonRoot needs a numeric user; the manifests run as the same uid and gid.
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)


def test_the_proxy_is_the_one_trusted_proxy_at_a_fixed_address_outside_the_dynamic_range(
    compose: dict[str, Any],
) -> None:
    address = ipaddress.ip_address(compose["services"]["proxy"]["networks"]["default"]["ipv4_address"])
    (network,) = compose["networks"]["default"]["ipam"]["config"]
    assert address in ipaddress.ip_network(network["subnet"])
    assert address not in ipaddress.ip_network(network["ip_range"]), "no other container can be given it"
    for name in [s.name for s in SERVICES] + [WORKSPACE.name]:
        assert compose["services"][name]["environment"]["TICKETLOOP_TRUSTED_PROXIES"] == str(address), name
    nginx = NGINX.read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx  # appends its peer
    assert 'proxy_set_header Forwarded "";' in nginx  # a client's own is not passed on
