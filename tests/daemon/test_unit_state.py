"""spdmd.daemon.service.parse_responder_settings: reading responders.json."""

from __future__ import annotations

import pytest

from spdmd.daemon.service import parse_responder_settings


def test_saved_disabled_ids_are_read() -> None:
    assert parse_responder_settings({"disabled": ["gpu0", "nic0"]}) == (
        {"gpu0", "nic0"},
        [],
    )


@pytest.mark.parametrize(
    ("data", "disabled", "problems"),
    [
        pytest.param(
            {"disabled": "gpu0"},
            set(),
            ["disabled is not a list of ids but str"],
            id="string-not-letters",
        ),
        pytest.param(
            [1, None], set(), ["not a JSON object but list"], id="top-level-list"
        ),
        pytest.param(
            {"disabled": ["gpu0", 1, None, ""]},
            {"gpu0"},
            [
                "disabled entry 1 is not a responder id",
                "disabled entry None is not a responder id",
                "disabled entry '' is not a responder id",
            ],
            id="bad-entries",
        ),
        pytest.param(
            {"disabled": [], "disable": ["gpu0"]},
            set(),
            ["unknown key 'disable'"],
            id="typo",
        ),
    ],
)
def test_unreadable_settings_are_ignored_and_named(
    data: object, disabled: set[str], problems: list[str]
) -> None:
    """A bad responders.json enables everything and says why, never silently."""
    assert parse_responder_settings(data) == (disabled, problems)
