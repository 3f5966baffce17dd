"""``lockgate generate --pin-images``: look up the digest each public image's tag points at now,
and write ``ci.images`` into the spec, so the files generated next name ``NAME:TAG@sha256:...``.

The lookup is one ``HEAD /v2/REPO/manifests/TAG`` per image through lockgate's registry client
(Bearer token challenge, docker config credentials, TLS verified), reading the digest the
registry reports. ``mirror`` (``HOST[/PATH]``) looks the images up in a registry mirror or
pull-through cache instead of Docker Hub; a mirror serves the same manifests, so the digests
are the same. The spec is rewritten through a round-trip YAML editor that keeps its comments
and key order, checked by loading it again, and replaced atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.errors import LockgateError
from lockgate.generator.public_images import DOCKER_HUB, PUBLIC_IMAGES, PublicImage

if TYPE_CHECKING:
    from lockgate.supply.image_ref import ImageRef
    from lockgate.supply.registry import RegistryClient


@dataclass(frozen=True)
class ImagePin:
    image: str  # NAME:TAG
    digest: str
    looked_up: str  # where: HOST/REPO:TAG

    @property
    def ref(self) -> str:
        return f"{self.image}@{self.digest}"


def images_for(providers: Iterable[str]) -> list[PublicImage]:
    """The public images the files of these providers name."""
    wanted = set(providers)
    return [i for i in PUBLIC_IMAGES.values() if wanted & set(i.providers)]


def lookup_ref(image: str, mirror: str | None = None) -> ImageRef:
    """Where ``image`` (``[HOST/]NAME:TAG``) is looked up: a name without a registry host on
    Docker Hub (``python`` is ``library/python`` there) or under ``mirror``; any other on its
    own registry."""
    from lockgate.supply.image_ref import ImageRef

    name, _, tag = image.rpartition(":")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return ImageRef(first, rest, tag)
    repository = name if slash else f"library/{name}"
    if not mirror:
        return ImageRef(DOCKER_HUB, repository, tag)
    host, _, prefix = mirror.strip("/").partition("/")
    return ImageRef(host, f"{prefix}/{repository}" if prefix else repository, tag)


def resolve_pins(
    images: Iterable[str],
    client_for: Callable[[str], RegistryClient],
    mirror: str | None = None,
) -> list[ImagePin]:
    """Each image's digest as its registry reports it now (one client per registry host)."""
    clients: dict[str, RegistryClient] = {}
    pins = []
    for image in dict.fromkeys(images):
        ref = lookup_ref(image, mirror)
        client = clients.setdefault(ref.registry, client_for(ref.registry))
        pins.append(ImagePin(image, client.tag_digest(ref), str(ref)))
    return pins


def write_pins(spec_path: Path, pins: Iterable[ImagePin], bases: Iterable[str] = ()) -> str:
    """Set ``ci.images`` in the spec to the pins of the images the CI files name (pins of other
    images are kept), and rewrite each ``image.base`` in ``bases`` (by field path) to its pin;
    return the new text."""
    import io

    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from lockgate.generator.files import write_atomic
    from lockgate.generator.yamltext import yaml_engine
    from lockgate.spec.loader import parse_spec
    from lockgate.spec.yamlpos import read_spec_text

    by_image = {p.image: p.ref for p in pins}
    yaml = yaml_engine()
    doc = yaml.load(read_spec_text(spec_path))
    for field in bases:
        *path, key = field.split(".")
        holder = doc
        for part in path:
            holder = holder[part]
        holder[key] = by_image[holder[key]]
    public = {i: r for i, r in by_image.items() if i in PUBLIC_IMAGES}
    if public:
        ci = doc.get("ci")
        if ci is None:
            ci = doc["ci"] = CommentedMap()
        if not isinstance(ci, dict):
            raise LockgateError(f"{spec_path}: ci: must be a mapping to hold ci.images")
        kept = [e for e in ci.get("images") or [] if str(e).partition("@")[0] not in public]
        ci["images"] = CommentedSeq(sorted([*kept, *public.values()]))
    out = io.StringIO()
    yaml.dump(doc, out)
    text = out.getvalue()
    parse_spec(text, str(spec_path))  # the rewritten spec must load, or nothing is written
    write_atomic(spec_path, text, executable=False)
    return text
