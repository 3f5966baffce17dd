"""Every third-party GitHub Action the generated workflows use, pinned by full commit SHA.

One table, so that a version bump is one reviewed line. The version travels as a comment next
to the SHA in the generated file (``uses: actions/checkout@<sha> # v4.2.2``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionPin:
    action: str
    sha: str
    version: str

    @property
    def ref(self) -> str:
        return f"{self.action}@{self.sha}"


ACTION_PINS: dict[str, ActionPin] = {
    pin.action: pin
    for pin in (
        ActionPin("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
        ActionPin("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
        ActionPin("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
        ActionPin(
            "actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"
        ),
        ActionPin("actions/cache", "5a3ec84eff668545956fd18022155c47e93e2684", "v4.2.3"),
        ActionPin(
            "github/codeql-action/upload-sarif",
            "ff0a06e83cb2de871e5a09832bc6a81e7276941f",
            "v3.28.18",
        ),
    )
}
