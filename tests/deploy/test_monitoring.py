"""deploy/prometheus and deploy/grafana: the alert rules have Prometheus's rule-group shape,
every expression parses as PromQL, and every metric they (and the dashboard, and the
autoscaling adapter) read is one the code exports."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from tests.deploy.support import ROOT

# One worker runs this module: its module-scoped fixture is built once, not once per worker.
pytestmark = pytest.mark.xdist_group("deploy-monitoring")

RULES = ROOT / "deploy" / "prometheus" / "ticketloop-rules.yml"
ADAPTER = ROOT / "deploy" / "prometheus" / "prometheus-adapter.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "ticketloop-dashboard.json"
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
# What the issue asks the alerts to watch, by the metric that measures it.
WATCHED = {
    "consumer lag": "ticketloop_consumer_lag",
    "outbox backlog": "ticketloop_outbox_pending",
    "dead letters": "ticketloop_deadletters_parked_total",
    "SLA breaches": "ticketloop_sla_announced_total",
    "HTTP 5xx": "ticketloop_http_requests_total",
}


def exported_metric_names() -> set[str]:
    """Every series name the services can serve at /metrics: each module that defines metrics
    (found by its prometheus_client import) is imported, then the registry is read."""
    for folder in [ROOT / "shared", *(ROOT / "services").iterdir()]:
        for source in folder.glob("ticketloop_*/**/*.py"):
            if "from prometheus_client import" in source.read_text() and "migrations" not in source.parts:
                module = ".".join(source.relative_to(folder).with_suffix("").parts)
                importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
    return {n for n in names if n.startswith("ticketloop_")}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (it must parse)."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


@pytest.fixture(scope="module")
def exported() -> set[str]:
    names = exported_metric_names()
    assert set(WATCHED.values()) <= names
    return names


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    assert set(data) == {"groups"}
    groups: list[dict[str, Any]] = data["groups"]
    assert len({g["name"] for g in groups}) == len(groups)
    return [rule for group in groups for rule in group["rules"]]


def test_the_rules_file_has_the_prometheus_rule_group_shape(rules: list[dict[str, Any]]) -> None:
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
        assert isinstance(rule["expr"], str)
        if "for" in rule:
            assert DURATION.match(rule["for"]), rule["for"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert len({r["alert"] for r in rules}) == len(rules)


def test_every_alert_parses_and_reads_only_metrics_the_code_exports(
    rules: list[dict[str, Any]], exported: set[str]
) -> None:
    read: set[str] = set()
    for rule in rules:
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported, (rule["alert"], names - exported)
        read |= names
    missing = {what for what, metric in WATCHED.items() if metric not in read}
    assert not missing, f"no alert on {missing}"


def test_an_unknown_metric_or_bad_promql_is_caught(exported: set[str]) -> None:
    assert not metric_names("rate(ticketloop_outbox_published_total[5m])") <= exported
    with pytest.raises(ValueError):
        metric_names("sum(rate(ticketloop_consumer_lag[5m])")


def test_the_dashboard_is_json_whose_panels_read_exported_metrics(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    read: set[str] = set()
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            # Grafana fills in its range variable before the query reaches Prometheus.
            names = metric_names(target["expr"].replace("$__rate_interval", "5m"))
            assert names and names <= exported, (panel["title"], names - exported)
            read |= names
    assert set(WATCHED.values()) <= read


def test_the_autoscaling_adapter_serves_consumer_lag_from_an_exported_metric(exported: set[str]) -> None:
    for rule in yaml.safe_load(ADAPTER.read_text())["rules"]["external"]:
        series = metric_names(rule["seriesQuery"])
        query = rule["metricsQuery"].replace("<<.Series>>", next(iter(series)))
        query = query.replace("<<.LabelMatchers>>", 'namespace="ticketloop",service="sla"')
        assert series <= exported and metric_names(query) <= exported
        assert re.search(rule["name"]["matches"], next(iter(series)))
