"""Validation of volumes and of the mounts that refer to them.

A volume has a DNS-label name and exactly one source; mounts name an existing volume, use an
absolute mountPath once per container, and sub-paths that never climb out of the volume.
"""

from __future__ import annotations

import re
from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.quantity import parse_quantity
from podfleet.api.schema_pod import VOLUME_SOURCES
from podfleet.api.validation_common import (
    bad,
    dns_label,
    duplicate,
    each,
    forbidden,
    is_config_key,
    is_dns1123_subdomain,
    is_int,
    not_found,
    not_supported,
    required,
)
from podfleet.api.validation_container import VOLUME_FIELD_PATHS, validate_selector_source

HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")
MOUNT_PROPAGATIONS = ("Bidirectional", "HostToContainer", "None")
FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"


def local_descending_path(field: str, path: str) -> list[Cause]:
    """A relative path that never climbs out (`..`) — subPath, volume item paths."""
    if path.startswith("/"):
        return [bad(field, path, "must be a relative path")]
    parts = re.split(r"[\\/]", path)
    if ".." in parts:
        return [bad(field, path, "must not contain '..'")]
    return []


def validate_volume_mounts(field: str, mounts: Any, volumes: dict[str, dict[str, Any]]) -> list[Cause]:
    causes: list[Cause] = []
    paths: set[str] = set()
    for i, vm in enumerate(mounts if isinstance(mounts, list) else []):
        vf = f"{field}[{i}]"
        name = vm.get("name")
        if not name:
            causes.append(required(f"{vf}.name"))
        elif name not in volumes:
            causes.append(not_found(f"{vf}.name", name))
        mp = vm.get("mountPath")
        if not mp:
            causes.append(required(f"{vf}.mountPath"))
        else:
            if not mp.startswith("/"):
                causes.append(bad(f"{vf}.mountPath", mp, "must be an absolute path"))
            if mp in paths:
                causes.append(bad(f"{vf}.mountPath", mp, "must be unique"))
            paths.add(mp)
        if vm.get("subPath") and vm.get("subPathExpr"):
            causes.append(bad(f"{vf}.subPathExpr", vm["subPathExpr"], "subPathExpr and subPath are mutually "
                                                                      "exclusive"))
        for key in ("subPath", "subPathExpr"):
            if vm.get(key):
                causes += local_descending_path(f"{vf}.{key}", vm[key])
        prop = vm.get("mountPropagation")
        if prop is not None and prop not in MOUNT_PROPAGATIONS:
            causes.append(not_supported(f"{vf}.mountPropagation", prop, MOUNT_PROPAGATIONS))
    return causes


def _mode(field: str, mode: Any) -> list[Cause]:
    if mode is not None and (not is_int(mode) or not 0 <= mode <= 0o777):
        return [bad(field, mode, FILE_MODE_ERROR)]
    return []


def _items(field: str, items: Any) -> list[Cause]:
    causes: list[Cause] = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        f = f"{field}[{i}]"
        if not item.get("key"):
            causes.append(required(f"{f}.key"))
        else:
            causes += each(f"{f}.key", item["key"], is_config_key(item["key"]))
        causes += _path(f"{f}.path", item.get("path"))
        causes += _mode(f"{f}.mode", item.get("mode"))
    return causes


def _path(field: str, path: Any) -> list[Cause]:
    if not path:
        return [required(field)]
    return local_descending_path(field, str(path))


def _downward_items(field: str, items: Any) -> list[Cause]:
    causes: list[Cause] = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        f = f"{field}[{i}]"
        causes += _path(f"{f}.path", item.get("path"))
        causes += _mode(f"{f}.mode", item.get("mode"))
        if item.get("fieldRef") is None and item.get("resourceFieldRef") is None:
            causes.append(required(f, "one of fieldRef and resourceFieldRef is required"))
        causes += validate_selector_source(f, item, need_container=True, field_paths=VOLUME_FIELD_PATHS)
    return causes


def _projected(field: str, src: dict[str, Any]) -> list[Cause]:
    causes = _mode(f"{field}.defaultMode", src.get("defaultMode"))
    paths: set[str] = set()
    for i, source in enumerate(src.get("sources") or []):
        sf = f"{field}.sources[{i}]"
        kinds = [k for k in ("secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle",
                             "podCertificate") if source.get(k) is not None]
        if not kinds:
            causes.append(required(sf, "must specify exactly 1 volume type"))
        causes += [forbidden(f"{sf}.{k}", "may not specify more than 1 volume type") for k in kinds[1:]]
        for kind in ("secret", "configMap"):
            if isinstance(source.get(kind), dict):
                if not source[kind].get("name"):
                    causes.append(required(f"{sf}.{kind}.name"))
                causes += _items(f"{sf}.{kind}.items", source[kind].get("items"))
                paths |= {str(it.get("path")) for it in source[kind].get("items") or []}
        if isinstance(source.get("downwardAPI"), dict):
            causes += _downward_items(f"{sf}.downwardAPI.items", source["downwardAPI"].get("items"))
        token = source.get("serviceAccountToken")
        if isinstance(token, dict):
            tf = f"{sf}.serviceAccountToken"
            exp = token.get("expirationSeconds")
            if is_int(exp) and exp < 600:
                causes.append(bad(f"{tf}.expirationSeconds", exp, "may not specify a duration less than 10 minutes"))
            elif is_int(exp) and exp > 2**32:
                causes.append(bad(f"{tf}.expirationSeconds", exp, "may not specify a duration larger than 2^32 "
                                                                   "seconds"))
            causes += _path(f"{tf}.path", token.get("path"))
            if token.get("path") in paths:
                causes.append(bad(f"{tf}.path", token.get("path"), "conflicting duplicate paths"))
            paths.add(str(token.get("path")))
    return causes


def _volume_source(vf: str, v: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    if isinstance(hp := v.get("hostPath"), dict):
        path = hp.get("path")
        if not path:
            causes.append(required(f"{vf}.hostPath.path"))
        elif ".." in str(path).split("/"):
            causes.append(bad(f"{vf}.hostPath.path", path, "must not contain '..'"))
        if hp.get("type") not in (None, *HOST_PATH_TYPES):
            causes.append(not_supported(f"{vf}.hostPath.type", hp.get("type"), HOST_PATH_TYPES))
    if isinstance(ed := v.get("emptyDir"), dict) and ed.get("sizeLimit") is not None:
        try:
            negative = parse_quantity(ed["sizeLimit"]) < 0
        except ValueError:
            negative = True
        if negative:
            causes.append(forbidden(f"{vf}.emptyDir.sizeLimit", "SizeLimit field must be a valid resource quantity"))
    if isinstance(secret := v.get("secret"), dict):
        if not secret.get("secretName"):
            causes.append(required(f"{vf}.secret.secretName"))
        else:
            causes += each(f"{vf}.secret.secretName", secret["secretName"],
                           is_dns1123_subdomain(secret["secretName"]))
        causes += _mode(f"{vf}.secret.defaultMode", secret.get("defaultMode"))
        causes += _items(f"{vf}.secret.items", secret.get("items"))
    if isinstance(cm := v.get("configMap"), dict):
        if not cm.get("name"):
            causes.append(required(f"{vf}.configMap.name"))
        else:
            causes += each(f"{vf}.configMap.name", cm["name"], is_dns1123_subdomain(cm["name"]))
        causes += _mode(f"{vf}.configMap.defaultMode", cm.get("defaultMode"))
        causes += _items(f"{vf}.configMap.items", cm.get("items"))
    if isinstance(pvc := v.get("persistentVolumeClaim"), dict) and not pvc.get("claimName"):
        causes.append(required(f"{vf}.persistentVolumeClaim.claimName"))
    if isinstance(dapi := v.get("downwardAPI"), dict):
        causes += _mode(f"{vf}.downwardAPI.defaultMode", dapi.get("defaultMode"))
        causes += _downward_items(f"{vf}.downwardAPI.items", dapi.get("items"))
    if isinstance(proj := v.get("projected"), dict):
        causes += _projected(f"{vf}.projected", proj)
    if isinstance(nfs := v.get("nfs"), dict):
        if not nfs.get("server"):
            causes.append(required(f"{vf}.nfs.server"))
        if not nfs.get("path"):
            causes.append(required(f"{vf}.nfs.path"))
        elif not str(nfs["path"]).startswith("/"):
            causes.append(bad(f"{vf}.nfs.path", nfs["path"], "must be an absolute path"))
    if isinstance(image := v.get("image"), dict):
        if not image.get("reference"):
            causes.append(required(f"{vf}.image.reference"))
        if image.get("pullPolicy") not in (None, "", "Always", "IfNotPresent", "Never"):
            causes.append(not_supported(f"{vf}.image.pullPolicy", image["pullPolicy"],
                                        ["Always", "IfNotPresent", "Never"]))
    return causes


def validate_volumes(field: str, volumes: Any) -> tuple[list[Cause], dict[str, dict[str, Any]]]:
    """Unique DNS-label names, exactly one source each; returns the causes and the volumes by name."""
    causes: list[Cause] = []
    by_name: dict[str, dict[str, Any]] = {}
    for i, v in enumerate(volumes if isinstance(volumes, list) else []):
        vf = f"{field}[{i}]"
        if not isinstance(v, dict):
            causes.append(required(vf))
            continue
        name = v.get("name")
        causes += dns_label(f"{vf}.name", name)
        if name in by_name:
            causes.append(duplicate(f"{vf}.name", name))
        elif name:
            by_name[name] = v
        sources = [s for s in VOLUME_SOURCES if v.get(s) is not None]
        if not sources:
            causes.append(required(vf, "must specify a volume type"))
        causes += [forbidden(f"{vf}.{s}", "may not specify more than 1 volume type") for s in sources[1:]]
        causes += _volume_source(vf, v)
    return causes, by_name


