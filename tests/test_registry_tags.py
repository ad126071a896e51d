"""GTO tag grammar and SemVer order (pure functions; checked against gto's own parser)."""

from __future__ import annotations

import pytest

from mlx.errors import UsageError
from mlx.registry import tags as T

CASES = [
    ("churn@v1.2.3", T.REGISTRATION, "churn", "v1.2.3", None, None),
    ("churn@v1.2.3!", T.DEREGISTRATION, "churn", "v1.2.3", None, None),
    ("churn#prod#4", T.ASSIGNMENT, "churn", None, "prod", 4),
    ("churn#prod!#5", T.UNASSIGNMENT, "churn", None, "prod", 5),
    ("churn@deprecated", T.DEPRECATION, "churn", None, None, None),
    ("churn@deprecated#9", T.DEPRECATION, "churn", None, None, 9),
    ("models/dir=rf-2_x#staging#1", T.ASSIGNMENT, "models/dir:rf-2_x", None, "staging", 1),
    ("a/b@v0.1.0-rc.1+build.5", T.REGISTRATION, "a/b", "v0.1.0-rc.1+build.5", None, None),
    ("churn#prod", T.ASSIGNMENT, "churn", None, "prod", None),  # GTO's --simple form
]


@pytest.mark.parametrize("tag,action,name,version,stage,counter", CASES)
def test_parse_matches_gto(tag, action, name, version, stage, counter):
    from gto.tag import parse_name

    parsed = T.parse_tag(tag)
    assert parsed is not None
    assert (parsed.action, parsed.name, parsed.version, parsed.stage, parsed.counter) == (
        action,
        name,
        version,
        stage,
        counter,
    )
    theirs = parse_name(tag)
    assert theirs["name"] == name and theirs.get("version") == version
    assert theirs.get("stage") == stage and theirs.get("counter") == counter
    assert (
        theirs["action"].value
        == {
            T.REGISTRATION: "register",
            T.DEREGISTRATION: "deregister",
            T.ASSIGNMENT: "assign",
            T.UNASSIGNMENT: "unassign",
            T.DEPRECATION: "deprecate",
        }[action]
    )


@pytest.mark.parametrize(
    "tag", ["churn", "churn@1.0.0", "-churn@v1.0.0", "churn#prod#x", "churn@v01.0.0", "v1.0.0"]
)
def test_not_gto_tags(tag):
    assert T.parse_tag(tag) is None


def test_formatting_round_trips():
    assert T.registration_tag("dir:rf", "v1.0.0") == "dir=rf@v1.0.0"
    assert T.deregistration_tag("rf", "v1.0.0") == "rf@v1.0.0!"
    assert T.assignment_tag("rf", "prod", 3) == "rf#prod#3"
    assert T.unassignment_tag("rf", "prod", 4) == "rf#prod!#4"
    assert T.deprecation_tag("rf") == "rf@deprecated"
    assert T.deprecation_tag("rf", 7) == "rf@deprecated#7"
    for tag in ("dir=rf@v1.0.0", "rf#prod!#4"):
        assert T.parse_tag(tag) is not None


def test_semver_order_and_bumps():
    ordered = ["v0.0.1", "v0.1.0-alpha", "v0.1.0-alpha.1", "v0.1.0-alpha.beta", "v0.1.0-beta.2",
               "v0.1.0-beta.11", "v0.1.0-rc.1", "v0.1.0", "v0.1.1", "v1.0.0", "v10.0.0"]  # fmt: skip
    assert sorted(ordered, key=T.SemVer) == ordered
    assert T.SemVer("v1.0.0+build.1") == T.SemVer("v1.0.0")
    assert T.SemVer("v1.2.3").bump("patch").text == "v1.2.4"
    assert T.SemVer("v1.2.3").bump("minor").text == "v1.3.0"
    assert T.SemVer("v1.2.3").bump("major").text == "v2.0.0"
    assert T.ZERO.bump("patch").text == "v0.0.1"
    with pytest.raises(UsageError):
        T.SemVer("1.2.3")
    with pytest.raises(UsageError):
        T.check_name("-bad-")
