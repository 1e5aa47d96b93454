"""The Helm chart (deploy/helm/canopee): rendered with ``helm template``, every object validated
strictly against the pinned Kubernetes API, KEDA and Prometheus Operator types by
``chart-validate`` (deploy/helm/validate), then checked against the code: settings names, secrets,
consumer groups and topics, probes, resources, security, autoscaling bounds.

Needs ``.local/bin/helm`` and ``.local/bin/chart-validate``, built by ``make tools``
(deploy/local/tools.sh); without them the tests fail naming that command.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import SecretStr

from shared.bus import CONSUMED_TOPICS
from shared.settings import ServiceSettings, env_name

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "canopee"
OFFICES = ROOT / "deploy" / "offices.demo.toml"
BIN = ROOT / ".local" / "bin"
HELM = BIN / "helm"
VALIDATE = BIN / "chart-validate"
#: the Kubernetes version the chart is rendered for: that of the k8s.io/api module chart-validate pins
KUBE_VERSION = "1.37.0"
RELEASE = "canopee"
CONSUMERS = ("ticketing", "notifications", "feedback", "analytics")
SERVICES = ("gateway", *CONSUMERS)


def _settings_classes() -> dict[str, type[ServiceSettings]]:
    from services.analytics.settings import AnalyticsSettings
    from services.feedback.settings import FeedbackSettings
    from services.gateway.settings import GatewaySettings
    from services.notifications.settings import NotificationsSettings
    from services.ticketing.settings import TicketingSettings

    classes: list[type[ServiceSettings]] = [
        GatewaySettings,
        TicketingSettings,
        NotificationsSettings,
        FeedbackSettings,
        AnalyticsSettings,
    ]
    return {cls.service: cls for cls in classes}


SETTINGS = _settings_classes()


@pytest.fixture(scope="session")
def tools() -> None:
    missing = [str(p.relative_to(ROOT)) for p in (HELM, VALIDATE) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: build them with `make tools` (bash deploy/local/tools.sh)")


def helm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, env=env, check=False)


def render_text(*values: str, env: dict[str, str] | None = None) -> str:
    result = helm(
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        "canopee",
        "--kube-version",
        KUBE_VERSION,
        "--set-file",
        f"offices.content={OFFICES}",
        *values,
        env=env,
    )
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return result.stdout


def validate(manifests: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VALIDATE), *flags], input=manifests, capture_output=True, text=True, timeout=60, check=False
    )


def objects(manifests: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"]["app.kubernetes.io/component"])


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(deployment)["env"]}


def consumed_topics(service: str) -> set[str]:
    """The topics ``services/<service>/app.py`` subscribes to: ``CONSUMED_TOPICS[service]``
    (shared/bus.py), which the app hands to ``rt.consume``."""
    source = (ROOT / "services" / service / "app.py").read_text()
    assert "CONSUMED_TOPICS[" in source, f"services/{service}/app.py does not consume CONSUMED_TOPICS"
    return set(CONSUMED_TOPICS[service])


def secret_fields(cls: type[ServiceSettings]) -> dict[str, bool]:
    """Environment names of the SecretStr settings of ``cls`` → whether the service requires it."""
    fields = {}
    for name, field in cls.model_fields.items():
        if field.annotation is SecretStr or SecretStr in get_args(field.annotation):
            required = field.is_required() or (name == "admin_token" and cls.needs_admin_token)
            fields[env_name(cls, name)] = required
    return fields


@pytest.fixture(scope="session")
def default_render(tools: None) -> str:
    return render_text()


@pytest.fixture(scope="session")
def default_objects(default_render: str) -> list[dict[str, Any]]:
    return objects(default_render)


# -- rendering and strict validation ---------------------------------------------------------


def test_helm_lint_is_clean(tools: None) -> None:
    result = helm(
        "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, "--set-file", f"offices.content={OFFICES}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


VARIANTS = {
    "defaults": [],
    "every option": [
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.labels.release=prometheus",
        "--set",
        "mongo.urlSecret.name=canopee-mongo",
        "--set",
        "secrets.notificationsSmsToken.name=canopee-sms",
        "--set",
        "secrets.notificationsSmtpPassword.name=canopee-smtp",
        "--set",
        "topicPrefix=network-a.",
        "--set",
        "partitions=12",
        "--set",
        "imagePullSecrets[0]=registry-credentials",
        "--set",
        "topics.extraArgs[0]=--help",
        "--set",
        "services.gateway.replicas=3",
        "--set",
        "services.notifications.env.CANOPEE_NOTIFICATIONS_SMS_PROVIDER=http",
    ],
    "without KEDA": ["--set", "autoscaling.enabled=false", "--set", "services.ticketing.replicas=2"],
    "no PDB, no topic Job, no forget CronJob": [
        "--set",
        "defaults.pdb.enabled=false",
        "--set",
        "topics.enabled=false",
        "--set",
        "forgetConsumed.enabled=false",
    ],
    "secured Kafka, secrets as files": [
        "--set",
        "kafka.securityProtocol=SASL_SSL",
        "--set",
        "kafka.sasl.secret=kafka-user",
        "--set",
        "kafka.tls.secret=kafka-tls",
        "--set",
        "kafka.tls.certKey=tls.crt",
        "--set",
        "kafka.tls.keyKey=tls.key",
        "--set",
        "secretFiles=true",
    ],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_rendered_object_validates_strictly(tools: None, variant: str) -> None:
    manifests = render_text(*VARIANTS[variant])
    result = validate(manifests)
    assert result.returncode == 0, f"chart-validate rejected the chart ({variant}):\n{result.stderr}"
    count = len(objects(manifests))
    assert f"validated {count} objects" in result.stdout, result.stdout
    assert "k8s.io/api v0." in result.stdout and "github.com/kedacore/keda/v2 v2." in result.stdout


def test_an_existing_offices_configmap_is_mounted_instead(tools: None) -> None:
    manifests = render_text("--set", "offices.existingConfigMap=our-offices")
    objs = objects(manifests)
    assert not by_kind(objs, "ConfigMap"), "no offices ConfigMap is rendered when one is named"
    for deployment in by_kind(objs, "Deployment").values():
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["offices"]["configMap"]["name"] == "our-offices"
    assert validate(manifests).returncode == 1, "a ConfigMap the manifests lack is reported by default"
    result = validate(manifests, "-external-configmaps")
    assert result.returncode == 0, result.stderr


# -- the validator rejects what the API server would ------------------------------------------

BROKEN = {
    "unknown field in a Deployment": (
        "      containers:\n        - name: ticketing\n",
        "      containers:\n        - name: ticketing\n          imagePullPolicyy: Always\n",
        "Deployment/canopee-ticketing: strict decoding into apps/v1 Deployment: "
        'unknown field "spec.template.spec.containers[0].imagePullPolicyy"',
    ),
    "field in the wrong case": (
        "  revisionHistoryLimit: 5\n",
        "  revisionHistoryLimit: 5\n  MinReadySeconds: 5\n",
        'unknown field "spec.MinReadySeconds"',
    ),
    "unknown field in a ScaledObject": (
        "  pollingInterval: 15\n",
        "  pollingInterval: 15\n  maxReplicas: 4\n",
        "ScaledObject/canopee-ticketing: strict decoding into keda.sh/v1alpha1 ScaledObject: "
        'unknown field "spec.maxReplicas"',
    ),
    "misspelt kafka trigger setting": (
        "        lagThreshold:",
        "        lagTreshold:",
        "metadata.lagTreshold: not a setting of KEDA's kafka scaler",
    ),
    "invalid quantity": ("memory: 256Mi", "memory: 256 MB", "quantities must match the regular expression"),
    "unknown kind": (
        "kind: PodDisruptionBudget",
        "kind: PodDisruptionBudgets",
        "unknown apiVersion/kind policy/v1/PodDisruptionBudgets",
    ),
    "probe on a port the container lacks": (
        "            httpGet:\n              path: /health/ready\n              port: http\n",
        "            httpGet:\n              path: /health/ready\n              port: metrics\n",
        'readinessProbe.httpGet.port: no container port named "metrics"',
    ),
    "a word where a count or percentage is due": (
        "  maxUnavailable: 1\n",
        '  maxUnavailable: "one"\n',
        'PodDisruptionBudget/canopee-gateway: spec.maxUnavailable "one": a count or a percentage',
    ),
    "a string where an integer is due": (
        "  revisionHistoryLimit: 5\n",
        '  revisionHistoryLimit: "five"\n',
        "Deployment/canopee-gateway: does not decode into apps/v1 Deployment",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_the_validator_rejects_a_wrong_object(default_render: str, case: str) -> None:
    old, new, message = BROKEN[case]
    assert old in default_render, f"the rendering changed: update the {case!r} case"
    result = validate(default_render.replace(old, new, 1))
    assert result.returncode == 1, f"{case}: accepted\n{result.stdout}"
    assert message in result.stderr, f"{case}: expected {message!r} in:\n{result.stderr}"


def test_the_validator_names_the_template_and_the_object(default_render: str) -> None:
    broken = default_render.replace("  revisionHistoryLimit: 5\n", "  revisionHistoryLimit: 5\n  replicaz: 2\n", 1)
    result = validate(broken)
    first = result.stderr.splitlines()[0]
    assert first.startswith("invalid: canopee/templates/deployments.yaml: Deployment/canopee-gateway: "), first
    assert first.endswith('unknown field "spec.replicaz"'), first


# -- content -----------------------------------------------------------------------------------


def test_one_deployment_service_and_pdb_per_service(default_objects: list[dict[str, Any]]) -> None:
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert sorted(component(o) for o in by_kind(default_objects, kind).values()) == sorted(SERVICES), kind
    deployments = {component(d): d for d in by_kind(default_objects, "Deployment").values()}
    for service in by_kind(default_objects, "Service").values():
        name = component(service)
        assert service["spec"]["selector"] == deployments[name]["spec"]["selector"]["matchLabels"]
        (port,) = service["spec"]["ports"]
        assert port["port"] == SETTINGS[name].default_port and port["targetPort"] == "http"
    for pdb in by_kind(default_objects, "PodDisruptionBudget").values():
        assert pdb["spec"]["selector"] == deployments[component(pdb)]["spec"]["selector"]
        assert pdb["spec"]["maxUnavailable"] == 1


def test_every_deployment_runs_its_service_with_probes_resources_and_no_root(
    default_objects: list[dict[str, Any]],
) -> None:
    for deployment in by_kind(default_objects, "Deployment").values():
        service = component(deployment)
        pod = deployment["spec"]["template"]["spec"]
        c = container(deployment)
        assert c["args"] == ["run", service]
        port = SETTINGS[service].default_port
        assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert c["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert c["startupProbe"]["httpGet"]["path"] == "/health/live"
        for part in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][part]), (service, part)
        assert c["resources"]["limits"]["memory"] == "256Mi"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert isinstance(pod["securityContext"]["runAsUser"], int) and pod["securityContext"]["runAsUser"] > 0
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert pod["automountServiceAccountToken"] is False
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["labelSelector"] == deployment["spec"]["selector"]
        strategy = deployment["spec"]["strategy"]
        assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_every_environment_variable_is_a_setting_of_its_service(default_objects: list[dict[str, Any]]) -> None:
    for deployment in by_kind(default_objects, "Deployment").values():
        cls = SETTINGS[component(deployment)]
        known = {env_name(cls, field) for field in cls.model_fields}
        known |= {f"{name}_FILE" for name in secret_fields(cls)}
        unknown = set(env_of(deployment)) - known
        assert not unknown, f"{cls.service}: {sorted(unknown)} are no settings of {cls.__name__}"
        env = env_of(deployment)
        assert env[f"CANOPEE_{cls.service.upper()}_HOST"]["value"] == "0.0.0.0"
        assert env[f"CANOPEE_{cls.service.upper()}_PORT"]["value"] == str(cls.default_port)
        assert env["CANOPEE_KAFKA_BOOTSTRAP"]["value"] == "kafka:9092"


def test_the_offices_file_is_a_mounted_configmap(default_objects: list[dict[str, Any]]) -> None:
    (configmap,) = by_kind(default_objects, "ConfigMap").values()
    assert configmap["data"]["offices.toml"] == OFFICES.read_text().rstrip("\n")
    for deployment in by_kind(default_objects, "Deployment").values():
        path = Path(env_of(deployment)["CANOPEE_OFFICES_FILE"]["value"])
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        (mount,) = [m for m in container(deployment)["volumeMounts"] if m["mountPath"] == str(path.parent)]
        assert mount["readOnly"] is True
        source = volumes[mount["name"]]["configMap"]
        assert source["name"] == configmap["metadata"]["name"]
        assert source["items"] == [{"key": "offices.toml", "path": path.name}]
        assert "checksum/offices" in deployment["spec"]["template"]["metadata"]["annotations"]


SECURED = [
    "--set",
    "secrets.notificationsSmsToken.name=canopee-sms",
    "--set",
    "secrets.notificationsSmtpPassword.name=canopee-smtp",
    "--set",
    "secrets.analyticsFeedbackToken.name=canopee-feedback-read",
    "--set",
    "kafka.securityProtocol=SASL_SSL",
    "--set",
    "kafka.sasl.secret=kafka-user",
    "--set",
    "kafka.tls.secret=kafka-tls",
]


def test_secrets_come_from_secret_references_only(tools: None) -> None:
    values = SECURED
    # secret values in the environment of helm itself must not leak into the manifests
    planted = {f"CANOPEE_{n}": secrets.token_hex(20) for n in ("ADMIN_TOKEN", "FEEDBACK_FORM_SECRET")}
    manifests = render_text(*values, env={**os.environ, **planted})
    for value in planted.values():
        assert value not in manifests
    for office in ("demo-nord", "demo-sud", "demo-est", "demo-ouest"):
        assert f"{office}-demo-key" not in manifests, "office keys are only ever stored hashed"
    objs = objects(manifests)
    assert not by_kind(objs, "Secret"), "the chart creates no Secret: it names existing ones"
    for deployment in by_kind(objs, "Deployment").values():
        cls = SETTINGS[component(deployment)]
        env = env_of(deployment)
        for name, required in secret_fields(cls).items():
            if required:
                assert name in env, f"{cls.service}: {name} is required by the service"
            if name in env:
                assert "value" not in env[name], f"{cls.service}: {name} given literally"
                ref = env[name]["valueFrom"]["secretKeyRef"]
                assert ref["name"] and ref["key"]
        if cls.service == "gateway":
            assert "CANOPEE_ADMIN_TOKEN" not in env, "the gateway has no operator API: it gets no admin token"
    notifications = env_of(by_kind(objs, "Deployment")["canopee-notifications"])
    assert set(secret_fields(SETTINGS["notifications"])) <= set(notifications), "every notifications secret can be set"
    analytics = env_of(by_kind(objs, "Deployment")["canopee-analytics"])
    assert analytics["CANOPEE_ANALYTICS_FEEDBACK_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "canopee-feedback-read"


def test_secrets_can_be_read_from_files_and_never_sit_in_the_environment(tools: None) -> None:
    objs = objects(render_text(*SECURED, "--set", "secretFiles=true"))
    for deployment in by_kind(objs, "Deployment").values():
        cls = SETTINGS[component(deployment)]
        env = env_of(deployment)
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        files = {
            item["path"]: source["secret"]["name"]
            for source in volumes["secrets"]["projected"]["sources"]
            for item in source["secret"]["items"]
        }
        for name in secret_fields(cls):
            assert name not in env, f"{cls.service}: {name} in the environment"
            if f"{name}_FILE" in env:
                path = Path(env[f"{name}_FILE"]["value"])
                assert str(path.parent) == mounts["secrets"] and path.name in files
        from_files = {Path(env[f"{n}_FILE"]["value"]).name for n in secret_fields(cls) if f"{n}_FILE" in env}
        assert set(files) == from_files, cls.service
        assert env["CANOPEE_KAFKA_CA_FILE"]["value"].startswith(mounts["kafka-tls"] + "/")
    (auth,) = by_kind(objs, "TriggerAuthentication").values()
    parameters = {ref["parameter"]: ref["name"] for ref in auth["spec"]["secretTargetRef"]}
    assert parameters == {"username": "kafka-user", "password": "kafka-user", "ca": "kafka-tls"}
    for so in by_kind(objs, "ScaledObject").values():
        for trigger in so["spec"]["triggers"]:
            assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
            assert trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable"


def test_a_secret_given_as_a_plain_value_is_refused(tools: None) -> None:
    result = helm(
        "template",
        RELEASE,
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--set-file",
        f"offices.content={OFFICES}",
        "--set",
        "services.notifications.env.CANOPEE_NOTIFICATIONS_SMS_TOKEN=abc",
    )
    assert result.returncode != 0
    assert "a secret is never a value" in result.stderr


@pytest.mark.parametrize("prefix", ["", "network-a."])
@pytest.mark.parametrize("partitions", [6, 12])
def test_every_consuming_service_scales_on_its_consumer_groups_lag(tools: None, prefix: str, partitions: int) -> None:
    manifests = render_text("--set", f"topicPrefix={prefix}", "--set", f"partitions={partitions}")
    objs = objects(manifests)
    scaled = {component(s): s for s in by_kind(objs, "ScaledObject").values()}
    assert sorted(scaled) == sorted(CONSUMERS)
    deployments = {component(d): d for d in by_kind(objs, "Deployment").values()}
    for service, so in scaled.items():
        spec = so["spec"]
        assert spec["scaleTargetRef"]["name"] == deployments[service]["metadata"]["name"]
        assert spec["maxReplicaCount"] == partitions
        assert 1 <= spec["minReplicaCount"] <= partitions
        assert "replicas" not in deployments[service]["spec"], "KEDA owns the replica count"
        group = SETTINGS[service].model_construct(topic_prefix=prefix).group
        topics = set()
        for trigger in spec["triggers"]:
            assert trigger["type"] == "kafka"
            metadata = trigger["metadata"]
            assert metadata["consumerGroup"] == group
            assert metadata["bootstrapServers"] == "kafka:9092"
            assert int(metadata["lagThreshold"]) > 0
            assert metadata["offsetResetPolicy"] == "earliest", "the consumers start from the earliest offset"
            topics.add(metadata["topic"])
        assert topics == {f"{prefix}{t}" for t in consumed_topics(service)}, service
    assert "gateway" not in scaled and "replicas" in deployments["gateway"]["spec"]


def test_replicas_above_the_partitions_are_refused(tools: None) -> None:
    result = helm(
        "template",
        RELEASE,
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--set-file",
        f"offices.content={OFFICES}",
        "--set",
        "partitions=2",
        "--set",
        "services.analytics.replicas=3",
    )
    assert result.returncode != 0
    assert "services.analytics.replicas (3) is more than partitions (2)" in result.stderr


def test_topics_are_provisioned_by_a_hook_job(tools: None) -> None:
    (job,) = by_kind(objects(render_text("--set", "partitions=9", "--set", "topicPrefix=net.")), "Job").values()
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["args"] == ["topics", "create", "--partitions", "9"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["CANOPEE_TOPIC_PREFIX"] == "net." and env["CANOPEE_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_servicemonitor_scrapes_every_service(tools: None) -> None:
    objs = objects(render_text("--set", "metrics.serviceMonitor.enabled=true"))
    (monitor,) = by_kind(objs, "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [s for s in by_kind(objs, "Service").values() if selector.items() <= s["metadata"]["labels"].items()]
    assert sorted(component(s) for s in services) == sorted(SERVICES)
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert not by_kind(objects(render_text()), "ServiceMonitor"), "off by default"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("servcies.gateway.replicas=3", "additional properties 'servcies' not allowed"),
        ("kafka.securityProtocol=SASL", "/kafka/securityProtocol"),
        ("services.ticketing.autoscaling.lagTreshold=5", "additional properties 'lagTreshold' not allowed"),
        ("topicPrefix=Network A", "/topicPrefix"),
    ],
)
def test_a_mistyped_value_is_refused_by_the_values_schema(tools: None, value: str, message: str) -> None:
    result = helm(
        "template",
        RELEASE,
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--set-file",
        f"offices.content={OFFICES}",
        "--set",
        value,
    )
    assert result.returncode != 0, f"{value} accepted"
    assert message in result.stderr, result.stderr


def test_the_bus_forgets_what_every_service_read_on_a_schedule(default_objects: list[dict[str, Any]]) -> None:
    """Erasure on the bus: a CronJob runs ``canopee topics forget-consumed`` as the topic Job runs
    ``topics create`` (same image, settings, secrets, no root)."""
    (cron,) = by_kind(default_objects, "CronJob").values()
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and cron["spec"]["schedule"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["topics", "forget-consumed"]
    (job,) = by_kind(default_objects, "Job").values()
    (creator,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == creator["image"] and container["env"] == creator["env"]
    assert pod["securityContext"] == job["spec"]["template"]["spec"]["securityContext"]
