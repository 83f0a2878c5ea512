"""Checks of the local stack deploy/compose/, run by scripts/check-compose (after its
`promtool check config`). Nothing here runs a container: the files are read and compared.
"""

import json
import sys
import traceback
from pathlib import Path, PurePosixPath

import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
PROVISIONING = COMPOSE_DIR / "grafana" / "provisioning"
# Where compose.yaml mounts repository files for Prometheus: at their repository paths,
# so that the config's relative rules path resolves in the container as in the repository.
REPO_IN_CONTAINER = PurePosixPath("/repo")


def load_yaml(path):
    with path.open() as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict), f"{path.relative_to(REPO)}: not a YAML mapping"
    return doc


def compose():
    return load_yaml(COMPOSE)


def bind_mounts(service):
    """(source on the host, resolved; target in the container) of a service's bind mounts,
    short syntax (./src:/dst[:ro]) or long; named volumes are left out."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            if volume.get("type", "bind") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        if not source.startswith((".", "/")):
            continue
        mounts.append(((COMPOSE_DIR / source).resolve(), PurePosixPath(target)))
    return mounts


def mount_of(service, target):
    """The host path mounted at target or at a folder above it, and the path under it."""
    for source, mounted_at in bind_mounts(service):
        if target == mounted_at or mounted_at in target.parents:
            return source / target.relative_to(mounted_at)
    raise AssertionError(f"nothing is mounted at {target}")


def provisioning_files():
    files = sorted(PROVISIONING.glob("*/*.yaml")) + sorted(PROVISIONING.glob("*/*.yml"))
    assert {p.parent.name for p in files} == {"datasources", "dashboards"}, files
    return files


def flag(command, name):
    values = [a.split("=", 1)[1] for a in command if a.startswith(f"--{name}=")]
    assert len(values) == 1, (name, command)
    return values[0]


# --- the checks ---------------------------------------------------------------------------


def check_every_file_parses():
    services = compose()["services"]
    assert set(services) == {"exporter", "prometheus", "grafana"}, sorted(services)
    for path in provisioning_files():
        doc = load_yaml(path)
        assert doc.get("apiVersion") == 1, f"{path.relative_to(REPO)}: apiVersion {doc.get('apiVersion')}"
    load_yaml(COMPOSE_DIR / "prometheus.yml")


def check_mounted_files_exist():
    for name, service in compose()["services"].items():
        for source, target in bind_mounts(service):
            assert source.is_relative_to(REPO), f"{name}: {source} is outside the repository"
            assert source.exists(), f"{name}: {source.relative_to(REPO)} (mounted at {target}) does not exist"


def check_exporter_is_built_in_demo_mode():
    exporter = compose()["services"]["exporter"]
    context = (COMPOSE_DIR / exporter["build"]["context"]).resolve()
    assert context == REPO, f"the exporter is built from {context}, not the repository"
    assert (context / exporter["build"].get("dockerfile", "Dockerfile")).is_file()
    assert "--demo" in exporter["command"], exporter["command"]


def check_prometheus():
    prometheus = compose()["services"]["prometheus"]
    assert prometheus["image"].split(":")[0] == "prom/prometheus", prometheus["image"]
    command = prometheus["command"]
    assert "--enable-feature=exemplar-storage" in command, command
    config_target = PurePosixPath(flag(command, "config.file"))
    config = mount_of(prometheus, config_target)
    assert config == COMPOSE_DIR / "prometheus.yml", config

    # Every repository file is mounted at its repository path under /repo, so that the
    # config's relative paths mean the same files in the container as in promtool's check.
    for source, target in bind_mounts(prometheus):
        assert target == REPO_IN_CONTAINER / source.relative_to(REPO), (source, target)

    doc = load_yaml(config)
    assert doc["global"]["scrape_interval"] == "15s", doc["global"]
    for rules in doc["rule_files"]:
        host = (config.parent / rules).resolve()
        assert host == REPO / "prometheus" / "iadvize.rules.yml", host
        in_container = resolve_posix(config_target.parent / rules)
        assert mount_of(prometheus, in_container) == host, (rules, in_container)

    # The scrape target is the exporter's service, on the port the exporter listens on.
    targets = [t for job in doc["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == ["exporter:9834"], targets


def resolve_posix(path):
    """/a/b/../c as /a/c: what the container's filesystem makes of a relative path."""
    parts = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def check_grafana():
    grafana = compose()["services"]["grafana"]
    assert grafana["image"].split(":")[0] == "grafana/grafana", grafana["image"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer", env
    home = mount_of(grafana, PurePosixPath(env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]))
    assert home.is_file(), home

    # The provisioning folders are this folder's.
    for kind in ("datasources", "dashboards"):
        target = PurePosixPath("/etc/grafana/provisioning") / kind
        assert mount_of(grafana, target) == PROVISIONING / kind, kind

    # The dashboards provider reads the folder the repository's dashboards are mounted at.
    providers = [p for path in provisioning_files() if path.parent.name == "dashboards"
                 for p in load_yaml(path)["providers"]]
    assert len(providers) == 1, providers
    folder = mount_of(grafana, PurePosixPath(providers[0]["options"]["path"]))
    assert folder == REPO / "dashboards", f"the dashboards provider reads {folder}, not dashboards/"
    assert sorted(p.name for p in folder.glob("*.json")) == ["iadvize-exporter.json", "iadvize-overview.json"]

    # The data source: the dashboards' panels use ${datasource}, a variable of type
    # prometheus that starts on the default data source; any fixed uid must be provisioned.
    sources = [d for path in provisioning_files() if path.parent.name == "datasources"
               for d in load_yaml(path)["datasources"]]
    defaults = [d for d in sources if d.get("isDefault")]
    assert len(defaults) == 1 and defaults[0]["type"] == "prometheus", sources
    assert defaults[0]["url"] == "http://prometheus:9090", defaults[0]["url"]
    provisioned = {d["uid"] for d in sources}
    for path in sorted(folder.glob("*.json")):
        dashboard = json.loads(path.read_text())
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", path.name
        assert variables["datasource"]["query"] == defaults[0]["type"], path.name
        for kind, uid in datasource_refs(dashboard):
            if kind == "grafana":
                continue  # Grafana's built-in annotations.
            assert uid == "${datasource}" or uid in provisioned, f"{path.name}: data source {kind} {uid}"

    # Exemplars link to their conversation through the overview's conversation_url
    # variable. Provisioning reads $NAME and ${NAME} as environment variables, $$ as a $:
    # what Grafana keeps must be the dashboard's variable, then the exemplar's value.
    links = defaults[0]["jsonData"]["exemplarTraceIdDestinations"]
    assert [link["name"] for link in links] == ["conversation_id"], links
    assert links[0]["url"] == "$${conversation_url}$${__value.raw}", links[0]["url"]
    overview = json.loads((folder / "iadvize-overview.json").read_text())
    variables = {v["name"]: v for v in overview["templating"]["list"]}
    assert variables["conversation_url"]["type"] == "textbox", variables.get("conversation_url")
    exemplar_panels = [p["title"] for p in overview["panels"] if any(t.get("exemplar") for t in p.get("targets", []))]
    assert exemplar_panels, "no overview panel asks for exemplars"


def datasource_refs(node):
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict):
            yield ds.get("type"), ds.get("uid")
        elif isinstance(ds, str):
            yield None, ds
        for value in node.values():
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from datasource_refs(value)


CHECKS = [
    check_every_file_parses,
    check_mounted_files_exist,
    check_exporter_is_built_in_demo_mode,
    check_prometheus,
    check_grafana,
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
    print(f"check-compose: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
