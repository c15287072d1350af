"""The API server's limit flags reach its config from both `podfleet server` and `podfleet up`."""

from __future__ import annotations

import pytest

from podfleet.apiserver.app import ServerConfig
from podfleet.apiserver.flags import server_limits
from podfleet.cli import build_parser


@pytest.mark.parametrize("command", ["server", "up"])
def test_limit_flags_set_the_server_config(command: str) -> None:
    args = build_parser().parse_args([command, "--max-requests-inflight", "7", "--max-mutating-requests-inflight",
                                      "3", "--read-header-timeout", "2.5", "--idle-timeout", "9",
                                      "--max-connections", "100", "--loop-lag-log-threshold", "0.05"])
    config = ServerConfig(**server_limits(args))
    assert (config.max_requests_inflight, config.max_mutating_requests_inflight, config.read_header_timeout,
            config.idle_timeout, config.max_connections) == (7, 3, 2.5, 9, 100)
    assert args.loop_lag_log_threshold == 0.05


@pytest.mark.parametrize("command", ["server", "up"])
def test_limit_flags_default_to_kube_apiservers(command: str) -> None:
    config = ServerConfig(**server_limits(build_parser().parse_args([command])))
    assert (config.max_requests_inflight, config.max_mutating_requests_inflight) == (400, 200)


@pytest.mark.parametrize("bad", [["--max-requests-inflight", "-1"], ["--idle-timeout", "0"]])
def test_bad_limits_are_refused(bad: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", *bad])


def test_service_account_admission_is_on_unless_disabled() -> None:
    assert ServerConfig(**server_limits(build_parser().parse_args(["server"]))).disable_admission_plugins == ()
    args = build_parser().parse_args(["server", "--disable-admission-plugins", "ServiceAccount"])
    assert ServerConfig(**server_limits(args)).disable_admission_plugins == ("ServiceAccount",)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["server", "--disable-admission-plugins", "NamespaceLifecycle"])
