"""Pods that run the host's Python with this venv's packages (bind-mounted read-only over the busybox
test image), for tests of programs inside the cluster: no Python image has to be built."""

from __future__ import annotations

import json
import sys
import sysconfig
from typing import Any

from cluster_helpers import IMAGE

SITE_PACKAGES = sysconfig.get_paths()["purelib"]
PYTHON = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

# A SelfSubjectReview with the pod's own credential, to the `kubernetes` Service, the server checked
# against the pod's ca.crt: prints the username the API server sees.
WHOAMI = f"""
import json, os, ssl, urllib.request
ctx = ssl.create_default_context(cafile="{TOKEN_DIR}/ca.crt")
token = open("{TOKEN_DIR}/token").read()
url = "https://%s:%s/apis/authentication.k8s.io/v1/selfsubjectreviews" % (
    os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
body = json.dumps({{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}}).encode()
req = urllib.request.Request(url, body, {{"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"}})
print("USER", json.load(urllib.request.urlopen(req, context=ctx))["status"]["userInfo"]["username"])
"""


def python_pod(name: str, namespace: str, account: str, command: list[str], *,
               extra_volumes: list[dict[str, Any]] | None = None, extra_mounts: list[dict[str, Any]] | None = None,
               restart: str = "Never", node: str = "") -> str:
    """A pod (JSON for `kubectl apply -f -`) running `command` with the host's Python on PATH's place."""
    host = {"usr": "/usr", "lib": "/usr/lib", "lib64": "/usr/lib64", "site": SITE_PACKAGES}
    mounts = {"usr": "/usr", "lib": "/lib", "lib64": "/lib64", "site": "/site"}
    spec: dict[str, Any] = {
        "serviceAccountName": account, "restartPolicy": restart, "terminationGracePeriodSeconds": 1,
        "volumes": [{"name": k, "hostPath": {"path": v}} for k, v in host.items()] + (extra_volumes or []),
        "containers": [{"name": "py", "image": IMAGE, "command": command,
                        "env": [{"name": "PYTHONPATH", "value": "/site"},
                                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                                {"name": "HOME", "value": "/tmp"}],
                        "volumeMounts": [{"name": k, "mountPath": v, "readOnly": True}
                                         for k, v in mounts.items()] + (extra_mounts or [])}]}
    if node:
        spec["nodeName"] = node
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                       "spec": spec})
