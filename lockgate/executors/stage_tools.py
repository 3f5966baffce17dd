"""Built-in stages that need an external binary (``lockgate/scan``: trivy, ``lockgate/sign``:
cosign) get the host's own, verified copy in their container.

The runner image does not carry these tools: trivy is a 200 MB binary pinned by sha256, and a
copy baked into every runner image would be one more build to pin and rescan. Instead the
container executor finds the tool on the host exactly as a local run does (``$LOCKGATE_TRIVY``,
the tools folder, PATH; trivy checked against its pin), mounts that file read-only at
``/opt/lockgate-tools/NAME`` and points the stage at it; inside, the stage checks the pin again
before running it. Both tools are static binaries, so they run in any Linux image. These stages
talk to registries the way the host does, so they share the host's network (a registry on
loopback is reachable, as it is to a local run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CONTAINER_TOOLS = "/opt/lockgate-tools"
# built-in stage -> the tools it runs, as (file name, the variable the stage reads)
STAGE_TOOLS: dict[str, tuple[tuple[str, str], ...]] = {
    "scan": (("trivy", "LOCKGATE_TRIVY"),),
    "sign": (("cosign", "LOCKGATE_COSIGN"),),
}


@dataclass(frozen=True)
class StageTools:
    mounts: tuple[tuple[Path, str], ...] = ()  # (host file, container path), read-only
    env: dict[str, str] = field(default_factory=dict)
    host_network: bool = False


def stage_tools(uses: str | None) -> StageTools:
    """What a built-in stage's container needs to run its tools (nothing for other stages).
    Raises the supply chain's ``ToolMissing`` / ``ToolRefused`` when the host lacks the tool."""
    needs = STAGE_TOOLS.get((uses or "").removeprefix("lockgate/"), ())
    if not needs:
        return StageTools()
    from lockgate.supply.tools import find_cosign, find_trivy

    mounts, env = [], {}
    for name, variable in needs:
        inside = f"{CONTAINER_TOOLS}/{name}"
        if name == "trivy":
            trivy = find_trivy()
            trivy.argv()  # checks the pinned sha256 on the host before lending the file
            mounts.append((trivy.path.resolve(), inside))
        else:
            cosign = find_cosign()
            mounts.append((cosign.path.resolve(), inside))
            env["LOCKGATE_COSIGN_VERSION"] = cosign.version  # no dpkg in the container to ask
        env[variable] = inside
    return StageTools(tuple(mounts), env, host_network=True)
