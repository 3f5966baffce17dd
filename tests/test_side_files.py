"""Files beside the spec that lockgate reads — a verify policy, the approver groups file — are
read the way the spec is: core schema only, limits, duplicate keys refused, errors located."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.delivery.promotion.approvals import load_groups
from lockgate.errors import LockgateError
from lockgate.supply.verify_policy import VerifyPolicyError, load_verify_policy


def test_a_policy_with_a_python_tag_is_a_located_error(tmp_path: Path) -> None:
    policy = tmp_path / "verify.yaml"
    policy.write_text("key: cosign.pub\nrequire: !!python/object:os.system [sbom]\n")
    with pytest.raises(VerifyPolicyError, match=r"verify.yaml:2:\d+: .*tag"):
        load_verify_policy(policy, {})


def test_a_groups_file_with_a_duplicate_group_is_a_located_error(tmp_path: Path) -> None:
    groups = tmp_path / "groups.yaml"
    groups.write_text("sre: [omar]\nsre: [mallory]\n")
    with pytest.raises(LockgateError, match=r"groups.yaml:2:1: .*duplicate key"):
        load_groups({}, groups)
    groups.write_text("sre: [omar]\nml-leads: [lena]\n")
    assert load_groups({"sre": ["ana"]}, groups) == {"sre": {"ana", "omar"}, "ml-leads": {"lena"}}
