"""deploy/: the Kubernetes manifests against the Kubernetes schemas (shipped in the
kubernetes-validate wheel: nothing is downloaded), the settings that must agree across them, the
alert rules with promtool (Debian's `prometheus` package), and the dashboard's shape."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "kubernetes"
PROMETHEUS = DEPLOY / "prometheus"
# The oldest Kubernetes the manifests support (gRPC probes and CronJob time zones are GA since 1.27).
KUBERNETES_VERSION = "1.30.0"


def _documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _manifests() -> dict[str, dict]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _documents(path):
            out[doc["kind"]] = doc
    return out


@pytest.mark.parametrize("path", sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_each_manifest_is_valid_against_the_kubernetes_schema(path):
    for doc in _documents(K8S / path):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on any error


def test_the_schema_check_can_fail():
    deployment = _manifests()["Deployment"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grpc"]["port"] = "grpc"  # must be a number
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_every_manifest_but_the_secret_example():
    listed = set(_documents(K8S / "kustomization.yaml")[0]["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == present


def test_the_pod_drains_within_its_grace_and_probes_and_ports_agree():
    m = _manifests()
    config = m["ConfigMap"]["data"]
    pod = m["Deployment"]["spec"]["template"]
    container = pod["spec"]["containers"][0]
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = float(config["TRACESVC_SHUTDOWN_GRACE_SECONDS"])
    # SIGTERM comes after the preStop sleep; the server then drains for its grace; the kubelet
    # kills at terminationGracePeriodSeconds, counted from the start of preStop.
    assert pod["spec"]["terminationGracePeriodSeconds"] >= sleep + drain + 5
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # Every listener the service opens has its container port, and the Service exposes each one.
    assert config["TRACESVC_LISTEN"].rsplit(":", 1)[1] == str(ports["grpc"])
    assert config["TRACESVC_HTTP_LISTEN"].rsplit(":", 1)[1] == str(ports["http"])
    assert config["TRACESVC_METRICS_LISTEN"].rsplit(":", 1)[1] == str(ports["metrics"])
    assert {p["targetPort"] for p in m["Service"]["spec"]["ports"]} == set(ports)
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
    # Both serving listeners are probed: gRPC health at start and for liveness, HTTP for readiness.
    assert container["startupProbe"]["grpc"]["port"] == ports["grpc"]
    assert container["livenessProbe"]["grpc"]["port"] == ports["grpc"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": ports["http"]}
    # The namespace the kustomization puts everything in is created by it.
    assert m["Namespace"]["metadata"]["name"] == _documents(K8S / "kustomization.yaml")[0]["namespace"]
    labels = pod["metadata"]["labels"]
    for selector in (
        m["Deployment"]["spec"]["selector"]["matchLabels"],
        m["Service"]["spec"]["selector"],
        m["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    assert m["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == m["Deployment"]["metadata"]["name"]
    assert m["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2  # the PDB lets one go at a time
    job = m["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] + job["args"][:2] == ["reconciler", "run", "--incremental"]
    assert m["CronJob"]["spec"]["concurrencyPolicy"] == "Forbid"


def _promtool(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, cwd=PROMETHEUS, check=False)


def test_alert_rules_are_valid_and_fire_on_their_unit_test_series():
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_scrape_configs_are_valid():
    local = _promtool("check", "config", "prometheus-local.yml")
    assert local.returncode == 0, local.stdout + local.stderr
    checked = _promtool("check", "config", "prometheus.yml")
    if "kubernetes_sd_configs not found" in checked.stdout + checked.stderr:
        # Debian builds Prometheus without Kubernetes discovery: check the rest by hand.
        config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        assert config["rule_files"] == ["alerts.yml"]
        [job] = config["scrape_configs"]
        assert job["kubernetes_sd_configs"][0]["role"] == "pod"
        return
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_has_a_severity_and_a_runbook_in_the_readme():
    readme = (DEPLOY.parent / "README.md").read_text()
    rules = [r for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    assert len(rules) >= 5
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["runbook"] == "README.md#alerts"
        assert f"`{rule['alert']}`" in readme, rule["alert"]


def test_dashboard_panels_each_query_prometheus():
    dashboard = json.loads((DEPLOY / "grafana" / "tracesvc-dashboard.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 12
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for p in panels:
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
        assert p["datasource"]["uid"] == "${datasource}"


def _dockerfile() -> tuple[str, list[list[str]]]:
    """The Dockerfile's text and its final stage's instructions (continuation lines joined)."""
    text = (DEPLOY / "Dockerfile").read_text()
    joined = text.replace("\\\n", " ")
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    stages = [i for i, ln in enumerate(lines) if ln.upper().startswith("FROM ")]
    return text, [ln.split() for ln in lines[stages[-1] :]]


def test_the_image_carries_every_runtime_dependency_port_and_a_health_check():
    """No base image can be pulled here, so the Dockerfile is read: what `serve` needs at run time."""
    _, final = _dockerfile()
    words = [w for ins in final for w in ins]
    ci = (DEPLOY.parent / ".ci" / "run").read_text()
    casefile_packages = ci.split('CASEFILE_PKGS="', 1)[1].split('"', 1)[0].split()
    for package in casefile_packages:
        if package != "poppler-utils":  # the tests' PDF reader, not the service's
            assert package in words, f"the image lacks {package}, which the case file needs"
    config = _manifests()["ConfigMap"]["data"]
    exposed = {w for ins in final if ins[0] == "EXPOSE" for w in ins[1:]}
    for listener in ("TRACESVC_LISTEN", "TRACESVC_HTTP_LISTEN", "TRACESVC_METRICS_LISTEN"):
        assert config[listener].rsplit(":", 1)[1] in exposed, listener
        assert any(w.startswith(f"{listener}=0.0.0.0:") for w in words), f"the image does not set {listener}"
    [user] = [ins[1] for ins in final if ins[0] == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    assert (
        int(user.split(":")[0])
        == _manifests()["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    )
    [health] = [ins for ins in final if ins[0] == "HEALTHCHECK"]
    assert '["tracesvc", "health"]' in " ".join(health)
    entry = " ".join(next(ins for ins in final if ins[0] == "ENTRYPOINT"))
    assert "tini" in entry  # PID 1 forwards SIGTERM: the server drains before it stops


def test_the_health_check_command_exists():
    from tracesvc.app.cli import build_parser

    assert build_parser().parse_args(["health"]).command == "health"
