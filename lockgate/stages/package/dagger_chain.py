"""The package stage's image build as a Dagger chain, for the Dagger executor and for users who
drive Dagger themselves: ``dag.host().directory(CONTEXT).docker_build()``, one ``with_label``
and one ``with_annotation`` per label (annotations land on the pushed manifest, which the
Engine API's push cannot set), optional registry auth, then ``publish(REPOSITORY:TAG)``.

The chain is lazy: nothing runs until :meth:`DaggerPackage.publish` is awaited, so it can be
inspected op by op without an engine (``container._ctx.selections``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DaggerPackage:
    container: Any  # dagger.Container
    address: str  # REPOSITORY:TAG

    async def publish(self) -> str:
        """Push; returns ``REPOSITORY:TAG@sha256:...`` as the engine reports it."""
        return str(await self.container.publish(self.address))


def package_to_dagger(
    dag: Any,
    context_dir: Path,
    repository: str,
    *,
    tag: str,
    labels: Mapping[str, str],
    username: str | None = None,
    password: Any = None,  # a dagger.Secret (from a file:// URI, never a literal value)
) -> DaggerPackage:
    container = dag.host().directory(str(context_dir)).docker_build()
    for key, value in sorted(labels.items()):
        container = container.with_label(key, value)
    for key, value in sorted(labels.items()):
        if key.startswith("org.opencontainers.image."):
            container = container.with_annotation(key, value)
    registry_host = repository.split("/", 1)[0]
    if username and password is not None:
        container = container.with_registry_auth(registry_host, username, password)
    return DaggerPackage(container, f"{repository}:{tag}")
