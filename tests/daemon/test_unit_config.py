"""spdmd.daemon.config: the /etc/spdmd/config.json format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spdmd.daemon.config import (
    SD_BUS_METHOD_TIMEOUT,
    Config,
    ConfigError,
    load_config,
    parse_config,
)
from spdmd.daemon.devices import Address
from spdmd.spdm.certs import ValidityPolicy

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "config" / "config.json"


def test_shipped_default_parses_without_warnings() -> None:
    """data/config/config.json, installed as /etc/spdmd/config.json, is valid as shipped."""
    cfg = load_config(SHIPPED)
    assert cfg.warnings == []
    assert cfg.trust_anchors == ["/etc/spdmd/trust-anchors"]
    assert cfg.responders == []


def test_missing_default_file_means_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import spdmd.daemon.config as mod

    monkeypatch.setattr(mod, "DEFAULT_CONFIG_PATH", tmp_path / "absent.json")
    assert load_config(None) == Config()


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.json")


def test_all_settings() -> None:
    cfg = parse_config(
        {
            "trust_anchors": "/a",
            "parallelism": 2,
            "deadline_seconds": 1.5,
            "measurement_deadline_seconds": 2.5,
            "reattest_period_seconds": 0,
            "certificate_validity": "enforce",
            "mctp_discovery": False,
            "entity_manager": False,
            "responders": [
                {"name": "gpu0", "host": "10.0.0.2"},
                {"transport": "tcp", "host": "10.0.0.3"},
                {
                    "transport": "mctp",
                    "eid": 20,
                    "name": "nic0",
                    "authenticating": "/inv/nic",
                },
            ],
        }
    )
    assert cfg.trust_anchors == ["/a"]
    assert (cfg.parallelism, cfg.deadline_seconds, cfg.reattest_period_seconds) == (
        2,
        1.5,
        0,
    )
    assert cfg.measurement_deadline_seconds == 2.5
    assert cfg.certificate_validity is ValidityPolicy.ENFORCE
    assert (cfg.mctp_discovery, cfg.entity_manager) == (False, False)
    gpu, plain, nic = cfg.responders
    assert gpu.address == Address("emu-tcp", host="10.0.0.2", port=2323)
    assert plain.address == Address("tcp", host="10.0.0.3", port=4194)
    assert nic.names_only and nic.address == Address("mctp", net=None, eid=20)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param([], "not a JSON object", id="not-object"),
        pytest.param({"paralelism": 2}, "unknown key 'paralelism'", id="typo"),
        pytest.param({"parallelism": 0}, "parallelism", id="zero-parallel"),
        pytest.param(
            {"deadline_seconds": True}, "deadline_seconds", id="bool-deadline"
        ),
        pytest.param(
            {"measurement_deadline_seconds": 0},
            "measurement_deadline_seconds",
            id="zero-measurement-deadline",
        ),
        pytest.param(
            {"certificate_validity": "sometimes"}, "certificate_validity", id="validity"
        ),
        pytest.param({"responders": {}}, "responders must be a list", id="responders"),
    ],
)
def test_bad_settings_stop_the_daemon(data: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_config(data)


def test_bad_responder_entry_is_dropped_with_a_warning() -> None:
    """One broken entry is reported; the good ones are kept."""
    cfg = parse_config(
        {
            "responders": [
                {"transport": "mctp"},
                {"host": "h", "port": 70000},
                {"host": "h", "colour": "red"},
                {"name": "ok", "host": "h"},
            ]
        }
    )
    assert [s.name for s in cfg.responders] == ["ok"]
    assert len(cfg.warnings) == 3
    assert "responders[0]" in cfg.warnings[0]


def test_invalid_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{")
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)
    path.write_text(json.dumps({"parallelism": -1}))
    with pytest.raises(ConfigError, match="parallelism"):
        load_config(path)


def test_measurement_deadline_default_is_below_sd_bus_timeout() -> None:
    """bmcweb's call (sd-bus, 25 s) must see our failure, not its own timeout."""
    assert Config().measurement_deadline_seconds < SD_BUS_METHOD_TIMEOUT
    assert load_config(SHIPPED).measurement_deadline_seconds < SD_BUS_METHOD_TIMEOUT


def test_duplicate_and_misplaced_responder_entries_are_skipped_with_a_reason() -> None:
    """An entry whose address another entry already has, or with another kind's
    key, is skipped and named, not merged away silently."""
    cfg = parse_config(
        {
            "responders": [
                {"name": "a", "host": "127.0.0.1", "port": 2323},
                {"name": "b", "transport": "tcp", "host": "127.0.0.1", "port": 2323},
                {"name": "c", "host": "127.0.0.1", "port": 2324, "eid": 300},
                {"name": "d", "transport": "mctp", "eid": 20, "port": 1},
                {"name": "e", "transport": "mctp", "net": 1, "eid": 20},
                {"name": "f", "transport": "mctp", "net": 1, "eid": 20},
            ]
        }
    )
    assert [s.name for s in cfg.responders] == ["a", "e"]
    assert cfg.warnings == [
        "responders[1]: tcp 127.0.0.1:2323 has the same address as responders[0]",
        "responders[2]: eid does not apply to transport emu-tcp",
        "responders[3]: port does not apply to transport mctp",
        "responders[5]: mctp net 1 eid 20 has the same address as responders[4]",
    ]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(
            {"deadline_seconds": float("nan")},
            r"deadline_seconds must be a finite number >= 0.1, not nan",
            id="nan-deadline",
        ),
        pytest.param(
            {"measurement_deadline_seconds": float("inf")},
            r"measurement_deadline_seconds must be a finite number >= 0.1, not inf",
            id="inf-measurement-deadline",
        ),
        pytest.param(
            {"reattest_period_seconds": -1},
            r"reattest_period_seconds must be a finite number >= 0, not -1",
            id="negative-period",
        ),
    ],
)
def test_non_finite_or_negative_numbers_stop_the_daemon(
    data: object, match: str
) -> None:
    """NaN is valid JSON for Python's json module; a NaN deadline would never expire."""
    with pytest.raises(ConfigError, match=match):
        parse_config(data)


def test_nan_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"deadline_seconds": NaN}')
    with pytest.raises(ConfigError, match="deadline_seconds must be a finite number"):
        load_config(path)


def test_boolean_port_eid_and_net_are_refused() -> None:
    """JSON true is not port 1 (Python's bool is an int)."""
    cfg = parse_config(
        {
            "responders": [
                {"host": "127.0.0.1", "port": True},
                {"transport": "mctp", "eid": True},
                {"transport": "mctp", "eid": 20, "net": False},
            ]
        }
    )
    assert cfg.responders == []
    assert cfg.warnings == [
        "responders[0]: port must be an integer 1..65535, not True",
        "responders[1]: mctp needs an eid 8..254, not True",
        "responders[2]: net must be a non-negative integer",
    ]


def test_association_paths_must_be_object_paths() -> None:
    cfg = parse_config(
        {
            "responders": [
                {"host": "h", "authenticating": "not a path"},
                {"host": "h", "port": 1, "reporting": "/a//b"},
                {"host": "h", "port": 2, "authenticating": "/xyz/a_1/B"},
            ]
        }
    )
    assert [s.authenticating for s in cfg.responders] == ["/xyz/a_1/B"]
    assert cfg.warnings == [
        "responders[0]: authenticating 'not a path' is not a D-Bus object path",
        "responders[1]: reporting '/a//b' is not a D-Bus object path",
    ]


def test_measurement_deadline_at_sd_bus_timeout_warns(tmp_path: Path) -> None:
    """A measurement deadline bmcweb would outwait is reported when spdmd starts."""
    import subprocess
    import sys

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"measurement_deadline_seconds": SD_BUS_METHOD_TIMEOUT}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spdmd.daemon",
            "--config",
            str(path),
            "--bus-address",
            f"unix:path={tmp_path / 'no-bus'}",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # No bus to connect to, so it stops; the warning came first.
    assert proc.returncode == 1
    assert "measurement_deadline_seconds is 25 s: bmcweb gives up after 25 s" in (
        proc.stderr
    )


def test_unknown_trusted_component_type_is_refused() -> None:
    """A misspelt attach type is named, not published as Unknown unseen."""
    cfg = parse_config(
        {
            "responders": [
                {"host": "h", "trusted_component_type": "discrete"},
                {"host": "h", "port": 1, "trusted_component_type": "Integrated"},
            ]
        }
    )
    assert len(cfg.responders) == 1
    assert cfg.warnings == [
        "responders[0]: trusted_component_type must be one of Discrete, Integrated, Unknown"
    ]


@pytest.mark.parametrize("eid", [0, 1, 7, 255, 300])
def test_mctp_eid_outside_the_transports_range_is_refused(eid: int) -> None:
    """The same EID rule as spdmd.transport.mctp (DSP0236: 8..254 addressable)."""
    cfg = parse_config({"responders": [{"transport": "mctp", "eid": eid}]})
    assert cfg.responders == []
    assert cfg.warnings == [f"responders[0]: mctp needs an eid 8..254, not {eid}"]


@pytest.mark.parametrize("eid", [8, 254])
def test_mctp_eid_at_the_edges_of_the_range_is_kept(eid: int) -> None:
    cfg = parse_config({"responders": [{"transport": "mctp", "eid": eid}]})
    assert [s.address.eid for s in cfg.responders] == [eid]
    assert cfg.warnings == []


def test_static_mctp_entry_makes_a_device_on_network_1() -> None:
    """Only a static MCTP entry stands for a device; a plain one only names."""
    cfg = parse_config(
        {
            "responders": [
                {"transport": "mctp", "eid": 8, "static": True},
                {"transport": "mctp", "eid": 9},
            ]
        }
    )
    static, naming = cfg.responders
    assert (static.address.net, static.address.eid, static.names_only) == (1, 8, False)
    assert (naming.address.net, naming.address.eid, naming.names_only) == (None, 9, True)


def test_static_applies_to_mctp_entries_only() -> None:
    cfg = parse_config(
        {"responders": [{"transport": "tcp", "host": "h", "static": True}]}
    )
    assert cfg.responders == []
    assert cfg.warnings == ["responders[0]: static does not apply to transport tcp"]
