"""Typed ``with:`` blocks shared by the scan and sign stages: where the image is, and how to
reach its registry. Secrets are named here and read from the secrets folder, never inlined."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from lockgate.errors import LockgateError
from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error
from lockgate.stages.context import StageContext
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.registry_http import RegistryAccess


class StageConfigError(LockgateError):
    """A ``with:`` block that does not validate."""


class RegistryConfig(FrozenModel):
    username_secret: str | None = Field(default=None, description="secret holding the user")
    password_secret: str | None = Field(default=None, description="secret holding the password")
    ca_file: str | None = Field(default=None, description="PEM CA of a private registry")
    plain_http: bool = False

    def access(self, ctx: StageContext, host: str) -> RegistryAccess:
        user = ctx.secret(self.username_secret) if self.username_secret else ""
        password = ctx.secret(self.password_secret) if self.password_secret else ""
        ca = ctx.resolve(self.ca_file) if self.ca_file else None
        return RegistryAccess(host, user, password, ca, self.plain_http)


class ImageSource(FrozenModel):
    """Which image: ``image`` (a reference with digest) or ``image_file`` (default
    ``in:package/image.json``: the package stage's record, whose ``ref`` is the image by digest;
    a plain text file holding the reference works too)."""

    image: str | None = None
    image_file: str = "in:package/image.json"
    registry: RegistryConfig = Field(default_factory=RegistryConfig)

    def image_record(self, ctx: StageContext) -> dict[str, Any]:
        """The upstream image record (``{}`` when ``image`` is given or the file is text)."""
        if self.image:
            return {}
        path = ctx.resolve(self.image_file)
        try:
            text = path.read_text().strip()
        except OSError:
            raise StageConfigError(
                f"stage {ctx.stage or '?'}: with.image_file: {path} not found; give with.image "
                "(NAME@sha256:...) or the file an upstream stage writes"
            ) from None
        if not text.startswith("{"):
            return {"ref": text}
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StageConfigError(f"with.image_file: {path}:{exc.lineno}: invalid JSON") from None
        return record if isinstance(record, dict) else {}

    def image_ref(self, ctx: StageContext) -> ImageRef:
        if self.image:
            return ImageRef.pinned(self.image)
        record = self.image_record(ctx)
        ref = record.get("ref") or record.get("image") or ""
        if not ref:
            raise StageConfigError(f"with.image_file: {self.image_file} names no image ('ref')")
        return ImageRef.pinned(str(ref))

    def access(self, ctx: StageContext, ref: ImageRef) -> RegistryAccess:
        return self.registry.access(ctx, ref.registry)


def parse_with(model: type[BaseModel], ctx: StageContext) -> BaseModel:
    try:
        return model.model_validate(dict(ctx.with_))
    except ValidationError as exc:
        message = describe_validation_error(
            exc, prefix=f"stage {ctx.stage or '?'}: ", root=("with",), model=model
        )
        raise StageConfigError(message) from None
