"""Which images a CI file names, and whether each is pinned by digest.

Read from the file's text, not from the model that rendered it, so a job or key added by hand
(and kept by ``--update``) is audited too. A reference is

- ``pinned``: ``...@sha256:<64 hex>``, immutable;
- ``indirect``: a variable or expression the file does not set itself (the runner image the
  image job outputs, which ``lockgate ci image`` accepts only as ``REF@sha256:...``), or one it
  sets whose own value is audited where it is set;
- ``floating``: a tag, which the registry can move: reported with how to pin it.

YAML: ``image`` (text or ``{name: ...}``), ``services`` items, a ``container`` given as text,
``uses: docker://...`` steps, variables and component inputs that name an image (``*_IMAGE``,
``*-image``). Groovy: ``docker.image('...')`` and ``image: '...'``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lockgate.generator.public_images import PUBLIC_IMAGES, pin_hint
from lockgate.generator.rendered import Rendered

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline

_PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")
_GROOVY = re.compile(r"""(?:docker\.image\(\s*|\bimage:\s*)'([^']+)'""")
Kind = Literal["pinned", "indirect", "floating"]


@dataclass(frozen=True)
class ImageUse:
    path: str  # the file, relative to the repository root
    line: int
    ref: str
    kind: Kind

    def warning(self, provider: str) -> str:
        where = f"{self.path}:{self.line}"
        if self.ref in PUBLIC_IMAGES:
            how = pin_hint(self.ref, provider)
        else:
            how = f"pin it: write it as {self.ref}@sha256:<digest> where the file names it"
        return (
            f"{where}: image {self.ref} is named by a floating tag, which its registry can "
            f"move; {how}"
        )


def image_uses(rendered: Rendered) -> list[ImageUse]:
    """Every image reference in one rendered CI file, in file order."""
    if rendered.format == "yaml":
        refs = list(_yaml_refs(rendered.text))
    elif rendered.format == "groovy":
        refs = [m.group(1) for m in _GROOVY.finditer(rendered.text)]
    else:
        return []
    uses = [ImageUse(rendered.path, _line_of(rendered.text, r), r, _kind(r)) for r in refs]
    return sorted(set(uses), key=lambda u: (u.line, u.ref))


def floating(files: list[Rendered]) -> list[ImageUse]:
    return [u for f in files for u in image_uses(f) if u.kind == "floating"]


def floating_bases(pipeline: Pipeline) -> list[tuple[str, str]]:
    """(field, reference) for each ``image.base`` the CI image job pulls by a floating tag; a
    ``lockgate/*`` base is bootstrapped from the OS archive, never pulled, so it is left out."""
    images = [("image.base", pipeline.image)]
    images += [(f"stages.{n}.image.base", s.image) for n, s in pipeline.stages.items() if s.image]
    return [
        (field, image.base)
        for field, image in images
        if image.base and not image.base.startswith("lockgate/") and _kind(image.base) != "pinned"
    ]


def _kind(ref: str) -> Kind:
    if _PINNED.search(ref):
        return "pinned"
    if "$" in ref:  # $VAR, ${VAR}, ${{ expr }}, $[[ inputs.x ]]: set elsewhere
        return "indirect"
    return "floating"


def _line_of(text: str, ref: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if ref in line:
            return number
    return 1


def _yaml_refs(text: str) -> Iterator[str]:
    import yaml  # libyaml's parser: reading is all the audit needs, and it is fast

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for doc in yaml.load_all(text, Loader=loader):
        yield from _walk(doc)


def _walk(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        name = str(key)
        if name == "image":
            yield from _named(value)
        elif name == "services" and isinstance(value, list):
            for service in value:
                yield from _named(service)
        elif name == "container" and isinstance(value, str):
            yield value
        elif name == "uses" and isinstance(value, str) and value.startswith("docker://"):
            yield value.removeprefix("docker://")
        elif isinstance(value, str) and (name.endswith("_IMAGE") or name.endswith("-image")):
            yield value
        yield from _walk(value)


def _named(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict) and isinstance(value.get("name"), str):
        yield value["name"]
