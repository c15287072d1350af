"""`podfleet up` and `podfleet agent` command-line entry points."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path


def _up(args: argparse.Namespace) -> int:
    from podfleet.apiserver.flags import server_limits
    from podfleet.cluster.up import LocalCluster, UpConfig
    from podfleet.daemon import run_daemon

    cluster = LocalCluster(UpConfig(data_dir=Path(args.data_dir), port=args.port, bind_address=args.bind_address,
                                    node_name=args.node_name or UpConfig().node_name, pod_cidr=args.pod_cidr,
                                    bridge=args.bridge, backoff_base=args.backoff_base,
                                    node_grace=args.node_monitor_grace_period, nodes=args.nodes,
                                    net_prefix=args.net_prefix, toleration_seconds=args.default_toleration_seconds,
                                    cluster_cidr=args.cluster_cidr, pod_network=args.pod_network,
                                    server_limits=server_limits(args)))

    async def start() -> None:
        await cluster.start()
        kc = cluster.server.kubeconfig_path
        nodes = f"{cluster.cfg.nodes} nodes" if cluster.multi else f"node {cluster.cfg.node_name}"
        print(f"podfleet is up: API server {cluster.server.url}, {nodes}", flush=True)
        print(f"kubeconfig: {kc}", flush=True)
        print(f"  export KUBECONFIG={kc}", flush=True)
        print("  kubectl get nodes", flush=True)
        print("  kubectl apply -f examples/seed-pod.yaml   (image: bash examples/build-busybox-image.sh first)",
              flush=True)
        print("Stop with Ctrl-C; pods keep running and are adopted on the next start.", flush=True)

    run_daemon(start, cluster.stop, loop_lag_threshold=args.loop_lag_log_threshold)
    return 0


def _agent(args: argparse.Namespace) -> int:
    from podfleet.agent.etc_files import ClusterDNSConfig
    from podfleet.agent.setup import AgentConfig, NodeAgent
    from podfleet.client.rest import RESTClient
    from podfleet.daemon import run_daemon
    from podfleet.kubeconfig import read_kubeconfig

    ca: bytes | None
    if args.kubeconfig:
        server, ca, token = read_kubeconfig(Path(args.kubeconfig))
    else:
        server, token = args.server, args.token
        ca = Path(args.ca_file).read_bytes() if args.ca_file else None
    if ca is None:
        print("error: the cluster CA is required (--kubeconfig with certificate-authority-data, or --ca-file): "
              "the agent serves only the API server it signs")
        return 1
    client = RESTClient(server, token, ca)
    agent = NodeAgent(client, AgentConfig(node_name=args.node_name, data_dir=Path(args.data_dir), node_ip=args.node_ip,
                                          port=args.port, pod_cidr=args.pod_cidr, oci_runtime=args.runtime,
                                          cni_conflist=Path(args.cni_conflist) if args.cni_conflist else None,
                                          host_gw=args.host_gw, backoff_base=args.backoff_base,
                                          cluster_dns=None if args.no_services else ClusterDNSConfig(
                                              args.cluster_dns, args.cluster_domain),
                                          cluster_cidr=args.cluster_cidr, in_own_netns=args.node_netns),
                      ca)

    async def stop() -> None:
        await agent.stop()
        await client.close()

    run_daemon(agent.start, stop)
    return 0


def _node(args: argparse.Namespace) -> int:
    from podfleet.cluster.nodenet import ClusterNetwork
    from podfleet.cluster.up import load_cluster_file, node_index, spawn_agent, stop_agent

    cf = load_cluster_file(Path(args.data_dir))
    if args.name not in cf.agent_commands:
        print(f"error: no node {args.name} (nodes: {', '.join(cf.agent_commands)})")
        return 1
    net = ClusterNetwork(cf.net_prefix, cf.cluster_cidr)
    if args.action == "stop":
        stop_agent(cf, args.name)
        net.set_link(node_index(args.name), up=False)
        print(f"node {args.name} stopped (agent killed, network down; its containers keep running)")
    else:
        net.set_link(node_index(args.name), up=True)
        spawn_agent(cf, args.name)
        print(f"node {args.name} started")
    return 0


def _node_kubeconfig(args: argparse.Namespace) -> int:
    import sys

    import yaml

    from podfleet.apiserver.auth import TokenFile
    from podfleet.kubeconfig import build_kubeconfig

    data = Path(args.data_dir)
    ca = data / "pki" / "ca.crt"
    if not ca.exists():
        print(f"error: {ca} not found: run `podfleet server --data-dir {data}` once first", file=sys.stderr)
        return 1
    token = TokenFile.load_or_create(data / "tokens.json").node_token(args.name)
    cfg = build_kubeconfig(args.server, ca.read_bytes(), f"system:node:{args.name}", token)
    sys.stdout.write(yaml.safe_dump(cfg, sort_keys=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    up = sub.add_parser("up", help="start a single-node cluster in one process")
    up.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    up.add_argument("--data-dir", default="/var/lib/podfleet")
    up.add_argument("--port", type=int, default=6443)
    up.add_argument("--bind-address", default="127.0.0.1")
    up.add_argument("--node-name", default="")
    up.add_argument("--pod-cidr", default="10.244.0.0/24")
    up.add_argument("--bridge", default="pf-cni0", help="name of the node's CNI bridge")
    up.add_argument("--backoff-base", type=float, default=10.0,
                    help="CrashLoopBackOff initial delay in seconds (doubles up to 5 min)")
    up.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                    help="seconds without a Lease renewal before a node is considered lost")
    up.add_argument("--nodes", type=int, default=1, help="number of nodes (each its own network namespace)")
    up.add_argument("--net-prefix", default="", help="name prefix for the cluster's links and namespaces")
    up.add_argument("--cluster-cidr", default="10.250.0.0/24", help="addresses of the nodes (multi-node)")
    up.add_argument("--pod-network", default="10.244.0.0/16", help="pod CIDRs are /24s of this (multi-node)")
    up.add_argument("--default-toleration-seconds", type=int, default=300,
                    help="tolerationSeconds added to pods for the not-ready/unreachable taints")
    from podfleet.apiserver.flags import add_server_flags

    add_server_flags(up)
    up.set_defaults(func=_up)

    node = sub.add_parser("node", help="stop or start a node of a `podfleet up --nodes N` cluster")
    node.add_argument("action", choices=["stop", "start"])
    node.add_argument("name")
    node.add_argument("--data-dir", default="/var/lib/podfleet")
    node.set_defaults(func=_node, log_level="warning")

    nk = sub.add_parser("node-kubeconfig", help="print a kubeconfig with a node's own credential (run on the server)")
    nk.add_argument("name", help="node name")
    nk.add_argument("--server", required=True, help="API server URL as the node will reach it")
    nk.add_argument("--data-dir", default="/var/lib/podfleet")
    nk.set_defaults(func=_node_kubeconfig, log_level="warning")

    ag = sub.add_parser("agent", help="run a node agent that joins a cluster")
    ag.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    ag.add_argument("--kubeconfig", default="", help="node kubeconfig (server, CA, node token)")
    ag.add_argument("--server", default="", help="API server URL (instead of --kubeconfig)")
    ag.add_argument("--token", default="", help="this node's credential (instead of --kubeconfig)")
    ag.add_argument("--ca-file", default="", help="cluster CA certificate (instead of --kubeconfig)")
    ag.add_argument("--node-name", default=socket.gethostname().split(".")[0].lower())
    ag.add_argument("--node-ip", default="127.0.0.1", help="address the API server reaches this agent on")
    ag.add_argument("--port", type=int, default=10250)
    ag.add_argument("--data-dir", default="/var/lib/podfleet/node")
    ag.add_argument("--pod-cidr", default="", help="pod CIDR (default: the one the control plane allocates)")
    ag.add_argument("--runtime", default="runc", choices=["runc", "crun"])
    ag.add_argument("--cni-conflist", default="")
    ag.add_argument("--host-gw", action="store_true", help="route other nodes' pod CIDRs via their addresses")
    ag.add_argument("--backoff-base", type=float, default=10.0)
    ag.add_argument("--cluster-cidr", default="", help="every node's pod addresses (default: this node's pod CIDR)")
    ag.add_argument("--cluster-dns", default="10.96.0.10", help="the kube-dns Service address pods resolve with")
    ag.add_argument("--cluster-domain", default="cluster.local")
    ag.add_argument("--no-services", action="store_true",
                    help="run no Service proxy or cluster DNS on this node (pods use the node's resolv.conf)")
    ag.add_argument("--node-netns", action="store_true",
                    help="the agent runs in a network namespace of its own (`podfleet up --nodes N`)")
    ag.set_defaults(func=_agent)
