"""`CNINetwork`: the real `PodNetwork`, executing CNI plugin binaries as the CNI spec describes.

For each pod sandbox: a network namespace, `loopback`, then the conflist's plugins in order (each
given the previous plugin's result as `prevResult`; `portmap` gets the pod's hostPorts as
`runtimeConfig.portMappings`). The final result is cached on disk (like libcni) so teardown — DEL in
reverse order with that result — works after an agent restart and is safe to repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from podfleet import procs
from podfleet.network.interface import NetworkError, PodNetworkStatus, PodRef
from podfleet.network.netns import create_netns, delete_netns, netns_path

log = logging.getLogger("podfleet.network.cni")
DEFAULT_CNI_PATH = "/usr/lib/cni:/opt/cni/bin"
IFNAME = "eth0"


def netns_name(pod: PodRef) -> str:
    return f"pf-{pod.sandbox_id[:24]}"


class CNINetwork:
    def __init__(self, conflist: dict[str, Any], *, cache_dir: Path, cni_path: str = DEFAULT_CNI_PATH,
                 timeout: float = 30.0) -> None:
        self.conflist = conflist
        self.cache_dir = cache_dir
        self.cni_path = cni_path
        self.timeout = timeout
        cache_dir.mkdir(parents=True, exist_ok=True)

    def _plugin_binary(self, plugin_type: str) -> str:
        for d in self.cni_path.split(":"):
            candidate = Path(d) / plugin_type
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        raise NetworkError(f'failed to find plugin "{plugin_type}" in path [{self.cni_path}]')

    def _env(self, command: str, pod: PodRef, netns: str) -> dict[str, str]:
        args = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod.namespace};K8S_POD_NAME={pod.name};"
                f"K8S_POD_INFRA_CONTAINER_ID={pod.sandbox_id};K8S_POD_UID={pod.uid}")
        return procs.go_program_env({
            "CNI_COMMAND": command, "CNI_CONTAINERID": pod.sandbox_id, "CNI_NETNS": netns,
            "CNI_IFNAME": IFNAME, "CNI_PATH": self.cni_path, "CNI_ARGS": args,
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")})

    async def _exec(self, command: str, plugin: dict[str, Any], pod: PodRef, netns: str,
                    prev: dict[str, Any] | None) -> dict[str, Any]:
        conf = {k: v for k, v in plugin.items() if k != "capabilities"}
        conf["cniVersion"] = self.conflist.get("cniVersion", "1.0.0")
        conf["name"] = self.conflist.get("name", "podfleet")
        if prev is not None:
            conf["prevResult"] = prev
        caps = plugin.get("capabilities") or {}
        if caps.get("portMappings") and pod.port_mappings:
            conf["runtimeConfig"] = {"portMappings": [
                {"hostPort": p.host_port, "containerPort": p.container_port, "protocol": p.protocol.lower(),
                 **({"hostIP": p.host_ip} if p.host_ip else {})} for p in pod.port_mappings]}
        binary = self._plugin_binary(plugin["type"])
        try:
            res = await procs.run([binary], stdin=json.dumps(conf).encode(), env=self._env(command, pod, netns),
                                  timeout=self.timeout)
        except procs.ProgramTimeout:
            raise NetworkError(f'plugin "{plugin["type"]}" {command} timed out after {self.timeout}s') from None
        except OSError as e:
            raise NetworkError(f'plugin "{plugin["type"]}" {command} could not run: {e}') from e
        out, err = res.stdout, res.stderr
        if res.returncode != 0:
            raise NetworkError(_plugin_error(plugin["type"], command, out, err))
        if command != "ADD" or not out.strip():
            return prev or {}
        try:
            result: dict[str, Any] = json.loads(out)
        except ValueError as e:
            raise NetworkError(f'plugin "{plugin["type"]}" returned invalid JSON: {e}') from e
        return result

    @staticmethod
    def _plugins_for(conflist: dict[str, Any], pod: PodRef) -> list[dict[str, Any]]:
        """portmap only matters for pods with hostPorts; skipping it saves two plugin runs per pod."""
        return [p for p in conflist["plugins"]
                if p.get("type") != "portmap" or pod.port_mappings]

    def _cache(self, pod: PodRef) -> Path:
        return self.cache_dir / f"{pod.sandbox_id}.json"

    async def setup(self, pod: PodRef) -> PodNetworkStatus:
        if pod.netns == "":
            raise NetworkError(f"no network namespace given for pod {pod.namespace}/{pod.name}")
        path = pod.netns if pod.netns is not None else str(await create_netns(netns_name(pod)))
        result: dict[str, Any] | None = None

        async def chain() -> None:
            nonlocal result
            for plugin in self._plugins_for(self.conflist, pod):
                result = await self._exec("ADD", plugin, pod, path, result)

        try:
            # `lo` and the conflist's interface are independent: bring them up side by side.
            # Both finish before a failure is acted on, so teardown never races a plugin still running.
            outcomes = await asyncio.gather(self._exec("ADD", {"type": "loopback"}, pod, path, None), chain(),
                                            return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            self._cache(pod).write_text(json.dumps({"netns": path, "result": result or {},
                                                    "conflist": self.conflist}))
        except Exception:
            with contextlib.suppress(Exception):
                await self.teardown(pod, _result=result)
            raise
        return _status(path, result or {})

    async def teardown(self, pod: PodRef, _result: dict[str, Any] | None = None) -> None:
        cache = self._cache(pod)
        conflist, prev = self.conflist, _result
        if cache.exists():
            with contextlib.suppress(ValueError, OSError):
                data = json.loads(cache.read_text())
                conflist, prev = data.get("conflist") or conflist, data.get("result")
        own = pod.netns is None  # a namespace this network made, by name
        path = str(netns_path(netns_name(pod))) if pod.netns is None else pod.netns
        present = bool(path) and os.path.exists(path)
        errors = []
        if present or cache.exists():
            for plugin in reversed(self._plugins_for(conflist, pod)):
                try:
                    # A namespace already gone is named "" (CNI: plugins then release what they can).
                    await self._exec("DEL", plugin, pod, path if present else "", prev)
                except NetworkError as e:
                    errors.append(str(e))
        if own:
            await delete_netns(netns_name(pod))
        with contextlib.suppress(FileNotFoundError):
            cache.unlink()
        if errors:
            log.warning("CNI DEL reported errors", extra={"pod": f"{pod.namespace}/{pod.name}",
                                                          "errors": "; ".join(errors)})


def _status(netns: str, result: dict[str, Any]) -> PodNetworkStatus:
    ips = [str(ip["address"]).split("/")[0] for ip in result.get("ips") or [] if ip.get("address")]
    gw = next((str(ip.get("gateway")) for ip in result.get("ips") or [] if ip.get("gateway")), "")
    return PodNetworkStatus(netns=netns, ips=ips, gateway=gw)


def _plugin_error(plugin: str, command: str, out: bytes, err: bytes) -> str:
    try:
        e = json.loads(out)
        msg = e.get("msg", "")
        details = e.get("details", "")
        return f'plugin type="{plugin}" failed ({command}): {msg}' + (f": {details}" if details else "")
    except ValueError:
        text = (err or out).decode(errors="replace").strip()
        return f'plugin type="{plugin}" failed ({command}): {text}'
