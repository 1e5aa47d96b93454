"""Prometheus and Grafana files: promtool unit tests of the alert rules, config and rules
checks, the analytics metrics accepted by promtool, dashboards wired to the provisioned source."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, generate_latest

from services.analytics.metrics import AnalyticsMetrics
from tests.support.analytics_promtool import check_config, check_metrics, run_rule_tests

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"


def test_alert_rules_pass_their_unit_tests() -> None:
    output = run_rule_tests(*sorted((PROMETHEUS / "tests").glob("*.yml")))
    assert "SUCCESS" in output


def test_every_alert_has_a_unit_test() -> None:
    rules = yaml.safe_load((PROMETHEUS / "rules" / "canopee.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tested = {
        case["alertname"]
        for f in (PROMETHEUS / "tests").glob("*.yml")
        for t in yaml.safe_load(f.read_text())["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == tested
    assert len(alerts) >= 5


def test_scrape_config_is_valid_and_covers_every_service() -> None:
    check_config(PROMETHEUS / "prometheus.yml")
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {
        f"{name}:{port}"
        for name, port in zip(
            ("gateway", "ticketing", "notifications", "feedback", "analytics"), range(8000, 8005), strict=True
        )
    } <= targets


def test_local_scrape_config_mirrors_the_docker_one() -> None:
    check_config(PROMETHEUS / "prometheus.local.yml")
    docker = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    local = yaml.safe_load((PROMETHEUS / "prometheus.local.yml").read_text())
    assert local["rule_files"] == docker["rule_files"]

    def jobs(config: dict) -> dict[str, tuple[list[str], dict]]:
        return {
            j["job_name"]: (sc["targets"], sc.get("labels", {}))
            for j in config["scrape_configs"]
            if j["job_name"].startswith("canopee-")
            for sc in j["static_configs"]
        }

    assert {
        name: ([f"127.0.0.1:{8000 + i}"], labels) for i, (name, (_, labels)) in enumerate(jobs(docker).items())
    } == jobs(local)


def test_analytics_metrics_pass_promtool() -> None:
    registry = CollectorRegistry()
    metrics = AnalyticsMetrics.create(registry)
    metrics.backlog.labels("demo-nord").set(3)
    metrics.within_target.labels("demo-nord", "emergency").set(92.5)
    metrics.events.labels("request.opened", "new").inc()
    metrics.query_seconds.observe(0.2)
    check_metrics(generate_latest(registry).decode())


def test_grafana_dashboards_use_the_provisioned_source_and_known_metrics() -> None:
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = source["datasources"][0]["uid"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "canopee.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    registry = CollectorRegistry()
    AnalyticsMetrics.create(registry)
    ours = {m.name for m in registry.collect()}
    dashboards = [json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))]
    assert {d["uid"] for d in dashboards} == {"canopee-transport", "canopee-business"}
    exprs = [t["expr"] for d in dashboards for p in d["panels"] for t in p["targets"]]
    assert all(t["datasource"]["uid"] == uid for d in dashboards for p in d["panels"] for t in p["targets"])
    assert any(e.startswith("sum by (app_name) (rate(faststream_received_messages_total") for e in exprs)
    used = {m for e in exprs for m in re.findall(r"canopee_analytics_[a-z_]+", e)}
    assert used and all(re.sub(r"_total$", "", m) in ours for m in used), used - ours
