"""Checks of the Helm chart helm/iadvize-exporter, run by scripts/check-chart.

- The chart's copies of the rules and dashboards are identical to the canonical files.
- `helm lint --strict` is clean, with the default values and with every toggle on.
- values.schema.json accepts the value sets below and refuses bad ones.
- The chart renders, with Helm's own Go library (PyPI helm-python-sdk), with the default
  values plus a login, with every toggle on, with an existing Secret, with a token Secret,
  in demo mode, and with tuned alerts; every rendered core manifest passes `kubernetes-validate --strict`, and the
  Prometheus Operator resources have the structure the operator expects.
- The PrometheusRule's rules equal prometheus/iadvize.rules.yml with the default values,
  and tuned values change exactly the thresholds, durations and labels asked for, and
  still pass `promtool check rules`.
- The workload is hardened, the password and the token are mounted files and never
  arguments.
- Values that would install but not run are refused at render time with a message that
  says what to set: no credentials, a token with a login, persistence with replicas.
"""

import base64
import copy
import json
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import helm_python as helm
import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "helm" / "iadvize-exporter"
RULES = REPO / "prometheus" / "iadvize.rules.yml"
DASHBOARDS = REPO / "dashboards"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas
# kubernetes-validate knows.
KUBE_VERSIONS = ["1.25.0", None]
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
PASSWORD = "s3cret-value-that-must-not-leak"

ALL_ON = {
    "iadvize": {"username": "ops@example.com", "password": PASSWORD, "projectIds": "1001,1002"},
    "serviceMonitor": {
        "enabled": True,
        "labels": {"release": "kube-prometheus-stack"},
        "interval": "30s",
        "scrapeTimeout": "5s",
        "scheme": "https",
        "tlsConfig": {"ca": {"secret": {"name": "iadvize-exporter-web", "key": "ca.crt"}}},
        "basicAuth": {
            "username": {"name": "iadvize-scrape", "key": "username"},
            "password": {"name": "iadvize-scrape", "key": "password"},
        },
        "relabelings": [{"targetLabel": "cluster", "replacement": "prod"}],
        "metricRelabelings": [{"sourceLabels": ["__name__"], "regex": "process_.*", "action": "drop"}],
    },
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "dashboards": {"enabled": True, "annotations": {"grafana_folder": "iAdvize"}},
    "persistence": {"enabled": True, "storageClass": "standard"},
    "extraArgs": ["--metrics.max-channels=64"],
    "extraEnv": [{"name": "IADVIZE_METRICS_MAX_CURRENCIES", "value": "32"}],
    "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    "podAnnotations": {"example.com/team": "support"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "extraVolumes": [{"name": "web-config", "secret": {"secretName": "iadvize-web-config"}}],
    "extraVolumeMounts": [{"name": "web-config", "mountPath": "/etc/iadvize-exporter/web", "readOnly": True}],
}
# The default values plus the one thing they lack: a login.
MINIMAL = {"iadvize": {"username": "ops@example.com", "password": PASSWORD}}
TOKEN = {"iadvize": {"tokenSecret": "iadvize-token", "tokenSecretKey": "access-token"}}
EXISTING_SECRET = {
    "iadvize": {
        "username": "ops@example.com",
        "existingSecret": "iadvize-credentials",
        "existingSecretKey": "iadvize-password",
    }
}
DEMO = {"demo": True, "serviceMonitor": {"enabled": True}}
TUNED = {
    **MINIMAL,
    "prometheusRule": {
        "enabled": True,
        "thresholds": {"csat_average_min": 4.2, "nps_min_responses": 100, "data_age_seconds_max": 1800},
        "alerts": {
            "IadvizeCsatDrop": {"for": "1h", "severity": "critical"},
            "IadvizeNoConversations": {"enabled": False},
        },
        "additionalAlertLabels": {"team": "support"},
    }
}
# Values the schema accepts but the templates refuse: what, values, what the message must say.
CREDENTIALS_HINT = ["iadvize.username", "iadvize.existingSecret", "iadvize.password", "iadvize.tokenSecret", "demo=true"]
REFUSED_VALUES = [
    ("the default values: no credentials", {}, ["no iAdvize credentials", *CREDENTIALS_HINT]),
    ("a username without a password", {"iadvize": {"username": "ops@example.com"}},
     ["iadvize.username is set but no password", "iadvize.existingSecret", "iadvize.password"]),
    ("an existing Secret without a username", {"iadvize": {"existingSecret": "iadvize-credentials"}},
     ["iadvize.username is empty", "set iadvize.username"]),
    ("a password without a username", {"iadvize": {"password": PASSWORD}}, ["iadvize.username is empty"]),
    ("a token Secret with a login", {"iadvize": {**TOKEN["iadvize"], "username": "ops@example.com"}},
     ["iadvize.tokenSecret and a login", "keep iadvize.tokenSecret alone"]),
    ("persistence with two replicas", {**MINIMAL, "replicaCount": 2, "persistence": {"enabled": True}},
     ["persistence.enabled with replicaCount=2", "state.bin", "last writer wins", "replicaCount=1"]),
    ("a backfill without persistence", {**MINIMAL, "replicaCount": 0, "backfill": {"enabled": True}},
     ["backfill.enabled needs persistence.enabled=true"]),
    ("a backfill while the exporter runs", {**MINIMAL, "persistence": {"enabled": True}, "backfill": {"enabled": True}},
     ["backfill.enabled with replicaCount=1", "replicaCount=0"]),
    ("persistence on an existing claim with three replicas, in demo mode",
     {"demo": True, "replicaCount": 3, "persistence": {"enabled": True, "existingClaim": "shared"}},
     ["persistence.enabled with replicaCount=3", "last writer wins"]),
]
# Next to them, values that must still render.
ACCEPTED_VALUES = [
    ("a username and a password", MINIMAL),
    ("a username and an existing Secret", EXISTING_SECRET),
    ("a token Secret", TOKEN),
    ("demo mode", DEMO),
    ("demo mode with a username left over", {"demo": True, "iadvize": {"username": "ops@example.com"}}),
    ("persistence with one replica", {**MINIMAL, "persistence": {"enabled": True}}),
    ("two replicas without persistence", {**MINIMAL, "replicaCount": 2}),
    ("persistence with no replica", {**MINIMAL, "replicaCount": 0, "persistence": {"enabled": True}}),
]
# The backfill Job, run once before the exporter starts (README, Starting with history).
BACKFILL = {
    **EXISTING_SECRET,
    "replicaCount": 0,
    "persistence": {"enabled": True},
    "backfill": {"enabled": True, "from": "2026-11-01T00:00:00Z", "labels": {"job": "iadvize-exporter"}},
}
BAD_VALUES = [
    ("a threshold that is not a number", {"prometheusRule": {"thresholds": {"csat_average_min": "high"}}}),
    ("an unknown threshold", {"prometheusRule": {"thresholds": {"csat_median_min": 3}}}),
    ("an unknown platform", {"iadvize": {"platform": "eu"}}),
    ("an unknown top-level key", {"replicas": 2}),
    ("a severity outside critical and warning", {"prometheusRule": {"alerts": {"IadvizeCsatDrop": {"severity": "page"}}}}),
]


def render(values):
    """Manifests by template file, each a list of YAML documents; NOTES.txt as text."""
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        out = chart.render(values, name="iadvize", namespace="monitoring", is_install=True)
    docs, notes = [], ""
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs, notes


def by_kind(docs):
    kinds = {}
    for doc in docs:
        assert doc["kind"] not in kinds, f"two {doc['kind']}s"
        kinds[doc["kind"]] = doc
    return kinds


def validate_core(docs, label):
    """kubernetes-validate --strict on every manifest that is not a Prometheus Operator one."""
    core = [d for d in docs if d["kind"] not in OPERATOR_KINDS]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{label}.yaml"
        path.write_text(yaml.safe_dump_all(core))
        for version in KUBE_VERSIONS:
            cmd = [str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", "--quiet"]
            if version:
                cmd += ["-k", version]
            result = subprocess.run(cmd + [str(path)], capture_output=True, text=True)
            assert result.returncode == 0, (
                f"kubernetes-validate --strict {version or 'latest'} ({label}):\n"
                f"{result.stdout}{result.stderr}"
            )


def check_operator_resources(docs):
    """The structure the Prometheus Operator's CRDs require, lightly."""
    for doc in docs:
        if doc["kind"] not in OPERATOR_KINDS:
            continue
        assert doc["apiVersion"] == "monitoring.coreos.com/v1", doc["apiVersion"]
        assert doc["metadata"]["name"] and doc["metadata"]["namespace"]
        assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}, set(doc)
        spec = doc["spec"]
        if doc["kind"] == "ServiceMonitor":
            assert set(spec) <= {"endpoints", "selector", "namespaceSelector", "jobLabel"}, set(spec)
            assert spec["selector"]["matchLabels"]
            for endpoint in spec["endpoints"]:
                allowed = {"port", "path", "interval", "scrapeTimeout", "honorLabels", "relabelings",
                           "metricRelabelings", "scheme", "tlsConfig", "basicAuth"}
                assert set(endpoint) <= allowed, set(endpoint)
                assert endpoint.get("scheme", "http") in {"http", "https"}, endpoint
                for secret_ref in endpoint.get("basicAuth", {}).values():
                    assert set(secret_ref) == {"name", "key"}, secret_ref
        else:
            assert set(spec) == {"groups"}, set(spec)
            for group in spec["groups"]:
                assert set(group) <= {"name", "interval", "rules"}, set(group)
                for rule in group["rules"]:
                    assert ("record" in rule) != ("alert" in rule), rule
                    assert isinstance(rule["expr"], str) and rule["expr"]
                    assert set(rule) <= {"record", "alert", "expr", "for", "labels", "annotations"}, set(rule)
                    for value in list(rule.get("labels", {}).values()) + list(rule.get("annotations", {}).values()):
                        assert isinstance(value, str), rule


def promtool_check(groups, label):
    """`promtool check rules` on rendered rule groups: the chart's edits stay valid PromQL."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{label}.rules.yml"
        path.write_text(yaml.safe_dump({"groups": groups}))
        try:
            result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
        except FileNotFoundError:
            raise AssertionError("promtool is not on the PATH (Debian: apt-get install prometheus)") from None
        assert result.returncode == 0, f"promtool check rules ({label}):\n{result.stdout}{result.stderr}"


def rules_file_groups():
    return yaml.safe_load(RULES.read_text())["groups"]


def container(kinds):
    containers = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# --- the checks ---------------------------------------------------------------------------


def check_copies_are_identical():
    copy_of_rules = CHART / "files" / "iadvize.rules.yml"
    assert copy_of_rules.read_bytes() == RULES.read_bytes(), (
        f"{copy_of_rules.relative_to(REPO)} differs from {RULES.relative_to(REPO)}: "
        f"cp {RULES.relative_to(REPO)} {copy_of_rules.relative_to(REPO)}"
    )
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "dashboards.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def check_lint_strict():
    # Lint renders too, but turns `fail` into a log line: the refusals are checked apart.
    for label, values in (("default values plus a login", MINIMAL), ("every toggle on", ALL_ON)):
        report = helm.lint(str(CHART), values, strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
        assert report["total_charts_linted"] == 1, report
        assert not problems, f"helm lint --strict, {label}: {problems}"


def check_schema_refuses_bad_values():
    with helm.Chart.load(str(CHART)) as chart:
        for what, values in BAD_VALUES:
            try:
                chart.validate_schema(values)
            except helm.HelmError:
                continue
            raise AssertionError(f"values.schema.json accepts {what}: {values}")


def check_render_refusals():
    for what, values, expected in REFUSED_VALUES:
        try:
            render(values)
        except helm.HelmError as error:
            message = str(error)
            missing = [e for e in expected if e not in message]
            assert not missing, f"refusing {what}, the message lacks {missing}: {message}"
            continue
        raise AssertionError(f"the chart renders {what}: {values}")
    for what, values in ACCEPTED_VALUES:
        try:
            docs, _ = render(values)
        except helm.HelmError as error:
            raise AssertionError(f"the chart refuses {what}: {values}: {error}") from None
        assert "Deployment" in by_kind(docs), what


def check_default_render():
    docs, notes = render(MINIMAL)
    kinds = by_kind(docs)
    assert set(kinds) == {"Deployment", "Service", "ServiceAccount", "Secret"}, set(kinds)
    validate_core(docs, "defaults")
    assert "WARNING" not in notes, notes


def check_every_toggle_on():
    docs, notes = render(ALL_ON)
    kinds = by_kind(docs)
    assert set(kinds) == {
        "Deployment",
        "Service",
        "ServiceAccount",
        "Secret",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "PersistentVolumeClaim",
    }, set(kinds)
    validate_core(docs, "all-on")
    check_operator_resources(docs)
    assert "WARNING" not in notes, notes

    # ServiceMonitor: the values, and a selector and port that find the Service.
    monitor, service = kinds["ServiceMonitor"], kinds["Service"]
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["interval"] == "30s" and endpoint["scrapeTimeout"] == "5s", endpoint
    assert endpoint["relabelings"] == ALL_ON["serviceMonitor"]["relabelings"]
    assert endpoint["metricRelabelings"] == ALL_ON["serviceMonitor"]["metricRelabelings"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), (selector, service["metadata"]["labels"])
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    assert service["spec"]["selector"].items() <= kinds["Deployment"]["spec"]["template"]["metadata"]["labels"].items()

    # Dashboards ConfigMap: the sidecar's label, and the dashboards as they are.
    dashboards = kinds["ConfigMap"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1", dashboards["metadata"]["labels"]
    assert dashboards["metadata"]["annotations"] == {"grafana_folder": "iAdvize"}
    expected = {p.name: p.read_text() for p in sorted(DASHBOARDS.glob("*.json"))}
    assert dashboards["data"] == expected, sorted(dashboards["data"])

    # The state file on the claim, and no rolling update onto a ReadWriteOnce volume.
    deployment = kinds["Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = kinds["PersistentVolumeClaim"]
    assert claim["spec"]["storageClassName"] == "standard"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    args = container(kinds)["args"]
    assert "--state.file=/var/lib/iadvize-exporter/state.bin" in args, args
    assert not any("state.json" in a for a in args), args
    assert {"mountPath": "/var/lib/iadvize-exporter", "name": "state"} in container(kinds)["volumeMounts"]

    # Flags through values, extraArgs and extraEnv.
    for flag in (
        "--iadvize.username=ops@example.com",
        "--iadvize.project-ids=1001,1002",
        "--iadvize.max-requests-per-second=5",
        "--poll.interval=60s",
        "--metrics.window=1h",
        "--metrics.max-channels=64",
    ):
        assert flag in args, (flag, args)
    assert container(kinds)["env"] == ALL_ON["extraEnv"]
    assert container(kinds)["resources"] == ALL_ON["resources"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert volumes["web-config"] == ALL_ON["extraVolumes"][0]
    assert ALL_ON["extraVolumeMounts"][0] in container(kinds)["volumeMounts"]


def check_hardened_workload():
    for label, values in (
        ("defaults", MINIMAL),
        ("all-on", ALL_ON),
        ("existing secret", EXISTING_SECRET),
        ("token", TOKEN),
        ("demo", DEMO),
    ):
        kinds = by_kind(render(values)[0])
        pod = kinds["Deployment"]["spec"]["template"]["spec"]
        box = container(kinds)
        where = f"({label})"
        assert pod["automountServiceAccountToken"] is False, where
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] != 0, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        context = box["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["capabilities"] == {"drop": ["ALL"]}, where
        assert context["runAsNonRoot"] is True, where
        assert box["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}, where
        assert box["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}, where
        assert box["ports"] == [{"name": "http", "containerPort": 9834, "protocol": "TCP"}], where
        if "ServiceAccount" in kinds:
            assert kinds["ServiceAccount"]["automountServiceAccountToken"] is False, where


def check_password_is_a_mounted_file():
    # A Secret the chart creates.
    kinds = by_kind(render(ALL_ON)[0])
    secret = kinds["Secret"]
    assert secret["data"] == {"password": base64.b64encode(PASSWORD.encode()).decode()}
    deployment_text = yaml.safe_dump(kinds["Deployment"])
    assert PASSWORD not in deployment_text and "b64" not in deployment_text
    box = container(kinds)
    assert "--iadvize.password-file=/etc/iadvize-exporter/secret/password" in box["args"], box["args"]
    assert not any("IADVIZE_PASSWORD" == e["name"] for e in box.get("env", []))
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["password"]["secret"] == {
        "secretName": secret["metadata"]["name"],
        "items": [{"key": "password", "path": "password"}],
        "defaultMode": 0o440,
    }, volumes["password"]
    assert {"name": "password", "mountPath": "/etc/iadvize-exporter/secret", "readOnly": True} in box["volumeMounts"]

    # An existing Secret: the chart creates none and mounts that one's key.
    docs, notes = render(EXISTING_SECRET)
    kinds = by_kind(docs)
    validate_core(docs, "existing-secret")
    assert "Secret" not in kinds, sorted(kinds)
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["password"]["secret"]["secretName"] == "iadvize-credentials"
    assert volumes["password"]["secret"]["items"] == [{"key": "iadvize-password", "path": "password"}]
    assert "WARNING" not in notes, notes

    # A token Secret: mounted, named by --iadvize.token-file, and no login beside it (the
    # exporter refuses both).
    docs, notes = render(TOKEN)
    kinds = by_kind(docs)
    validate_core(docs, "token")
    assert "Secret" not in kinds, sorted(kinds)
    box = container(kinds)
    assert "--iadvize.token-file=/etc/iadvize-exporter/token/token" in box["args"], box["args"]
    assert not any(a.startswith(("--iadvize.username", "--iadvize.password-file")) for a in box["args"]), box["args"]
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(volumes) == {"token"}, sorted(volumes)
    assert volumes["token"]["secret"] == {
        "secretName": "iadvize-token",
        "items": [{"key": "access-token", "path": "token"}],
        "defaultMode": 0o440,
    }, volumes["token"]
    # A directory mount, not a subPath: a replaced token reaches the running pod.
    assert box["volumeMounts"] == [{"name": "token", "mountPath": "/etc/iadvize-exporter/token", "readOnly": True}]
    assert "WARNING" not in notes, notes

    # Demo: no credentials at all.
    docs, notes = render(DEMO)
    kinds = by_kind(docs)
    validate_core(docs, "demo")
    assert "Secret" not in kinds
    assert "--demo" in container(kinds)["args"]
    assert "volumes" not in kinds["Deployment"]["spec"]["template"]["spec"]
    assert "DEMO MODE" in notes


def check_prometheus_rule_equals_the_rules_file():
    kinds = by_kind(render(ALL_ON)[0])
    groups = kinds["PrometheusRule"]["spec"]["groups"]
    expected = rules_file_groups()
    assert [g["name"] for g in groups] == [g["name"] for g in expected]
    for got, want in zip(groups, expected):
        assert got == want, (
            f"group {want['name']}: the PrometheusRule differs from {RULES.relative_to(REPO)}\n"
            f"got:  {json.dumps(got, sort_keys=True)}\nwant: {json.dumps(want, sort_keys=True)}"
        )


def check_tuned_thresholds_and_alerts():
    kinds = by_kind(render(TUNED)[0])
    check_operator_resources([kinds["PrometheusRule"]])
    got = kinds["PrometheusRule"]["spec"]["groups"]

    # The file, edited by hand the way the values ask.
    want = copy.deepcopy(rules_file_groups())
    exprs = {
        "iadvize:threshold:csat_average_min": "vector(4.2)",
        "iadvize:threshold:nps_min_responses": "vector(100)",
        "iadvize:threshold:data_age_seconds_max": "vector(1800)",
    }
    changed = set()
    for group in want:
        rules = []
        for rule in group["rules"]:
            if rule.get("record") in exprs:
                rule["expr"] = exprs[rule["record"]]
                changed.add(rule["record"])
            if rule.get("alert") == "IadvizeNoConversations":
                continue
            if rule.get("alert") == "IadvizeCsatDrop":
                rule["for"] = "1h"
                rule["labels"]["severity"] = "critical"
            if "alert" in rule:
                rule["labels"]["team"] = "support"
            rules.append(rule)
        group["rules"] = rules
    assert changed == set(exprs), changed
    promtool_check(got, "tuned")
    assert got == want, "tuned PrometheusRule:\n" + "\n".join(
        f"got:  {json.dumps(g, sort_keys=True)}\nwant: {json.dumps(w, sort_keys=True)}"
        for g, w in zip(got, want)
        if g != w
    )


def check_backfill_job():
    docs, _ = render(BACKFILL)
    kinds = by_kind(docs)
    validate_core(docs, "backfill")
    job, deployment = kinds["Job"], kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 0
    pod = job["spec"]["template"]["spec"]
    box = pod["containers"][0]
    args = box["args"]
    assert args[0] == "backfill", args
    for flag in (
        "--from=2026-11-01T00:00:00Z",
        "--step=5m",
        "--output=/var/lib/iadvize-exporter/history.om",
        # The very file the Deployment's exporter goes on from.
        "--state.file=/var/lib/iadvize-exporter/state.bin",
        "--label=job=iadvize-exporter",
        "--iadvize.username=ops@example.com",
        "--iadvize.password-file=/etc/iadvize-exporter/secret/password",
    ):
        assert flag in args, (flag, args)
    assert not any(PASSWORD in a for a in args), args
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["password"]["secret"]["secretName"] == "iadvize-credentials", volumes
    assert volumes["password"]["secret"]["items"] == [{"key": "iadvize-password", "path": "password"}]
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == kinds["PersistentVolumeClaim"]["metadata"]["name"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert box["securityContext"]["readOnlyRootFilesystem"] is True
    assert box["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # Off by default.
    assert "Job" not in by_kind(render(MINIMAL)[0])


CHECKS = [
    check_copies_are_identical,
    check_lint_strict,
    check_schema_refuses_bad_values,
    check_render_refusals,
    check_default_render,
    check_every_toggle_on,
    check_hardened_workload,
    check_password_is_a_mounted_file,
    check_prometheus_rule_equals_the_rules_file,
    check_tuned_thresholds_and_alerts,
    check_backfill_job,
]


def main():
    failed = 0
    for check in CHECKS:
        try:
            check()
        except Exception:  # noqa: BLE001 - every failure is reported, then the next check runs
            failed += 1
            print(f"FAIL {check.__name__}\n{traceback.format_exc()}", file=sys.stderr)
        else:
            print(f"ok   {check.__name__}")
    print(f"check-chart: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
