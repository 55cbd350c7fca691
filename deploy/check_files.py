"""Structural checks of deploy/ that no upstream tool does for us (deploy/check.sh runs this).

- docker-compose.yaml parses; every service is built here or uses an image pinned to an exact tag
  (no `latest`, no bare name); every bind-mounted file it names exists in the repository.
- The dashboard has its fixed uid, each panel a datasource with a provisioned uid, each target an expr.
- The provisioned datasource uids match the ones AEGIS's links default to.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parent / "docker"
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+([-.\w]*)?$")


def check_compose() -> list[str]:
    problems = []
    compose = yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())
    services = compose.get("services") or {}
    if not services:
        return ["docker-compose.yaml: no services"]
    for name, service in services.items():
        image, build = service.get("image"), service.get("build")
        if build:
            dockerfile = (DOCKER / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()
            if not dockerfile.is_file():
                problems.append(f"service {name}: Dockerfile {dockerfile} is missing")
        elif not image or not PINNED.match(image):
            problems.append(f"service {name}: image {image!r} is not pinned to an exact version tag")
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and not (DOCKER / source).exists():
                problems.append(f"service {name}: mounts {source}, which is not in deploy/docker")
    for wanted in ("aegis", "prometheus", "alertmanager", "grafana", "loki", "alloy"):
        if wanted not in services:
            problems.append(f"docker-compose.yaml: service {wanted} is missing")
    return problems


def check_dashboard() -> list[str]:
    problems = []
    datasources = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/datasources.yaml").read_text())["datasources"]
    uids = {d["uid"]: d["type"] for d in datasources}
    if uids != {"prometheus": "prometheus", "loki": "loki"}:
        problems.append(f"datasources: uids {uids} differ from the defaults AEGIS links to (prometheus, loki)")
    dashboard = json.loads((DOCKER / "grafana/dashboards/aegis-overview.json").read_text())
    if dashboard.get("uid") != "aegis-overview":
        problems.append("aegis-overview.json: uid must be aegis-overview (AEGIS_GRAFANA_DASHBOARD_UID)")
    names = {v["name"] for v in dashboard["templating"]["list"]}
    if not {"namespace", "pod"} <= names:
        problems.append("aegis-overview.json: the links set var-namespace and var-pod; both variables must exist")
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        if panel.get("datasource", {}).get("uid") not in uids:
            problems.append(f"panel {panel['title']!r}: datasource is not a provisioned uid")
        for target in panel.get("targets", []):
            if not target.get("expr"):
                problems.append(f"panel {panel['title']!r}: target {target.get('refId')} has no expr")
    return problems


def main() -> int:
    problems = check_compose() + check_dashboard()
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print("compose, dashboard and provisioning: OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
