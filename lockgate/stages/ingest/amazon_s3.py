"""Amazon S3 and S3-compatible stores through s3fs, each request bounded in time.

A store that takes the connection and never answers (a dead link, an overloaded proxy) is
waited on request by request: botocore asks again on a read timeout even when one attempt is
configured, so one request took ten times the read timeout, and a read of one object held the
stage for two and a half minutes with botocore's defaults. Here every request to the store must
be answered within :data:`object_stores.LIST_TIMEOUT_S`, retries included, and a body that
stops arriving mid-read is given up after the same time without a byte (botocore's
``read_timeout``, which counts from the last byte, so a slow but working link is not cut).
A fetch whose body is cut partway, reset or stalled, is asked again from its start, up to
:data:`FETCH_ATTEMPTS` times in all; a store lost for good is thus given up within that many
bounds.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from lockgate.stages.ingest import object_stores


def open_s3(url: str, opts: Mapping[str, Any], session: Any) -> tuple[Any, str]:
    """The filesystem for an ``s3://`` URL, made with ``session``, and the path inside it."""
    cls = bounded_filesystem_class()  # the package first: without it this raises ImportError
    return cls(**opts, session=session), cls._strip_protocol(url)


FETCH_ATTEMPTS = 3


@functools.cache
def bounded_filesystem_class() -> Any:
    """s3fs's filesystem whose every request must be answered within the listing's bound."""
    import s3fs

    class BoundedS3FileSystem(object_stores.ListedLookups, s3fs.S3FileSystem):
        # a fetch whose body is cut partway (a reset, a stall past the read timeout) is asked
        # again, from its start, this many times in all: a flaky link costs a fetch, not the
        # run. A request the store does not answer at all is not asked again (NoAnswer).
        retries = FETCH_ATTEMPTS

        async def _call_s3(self, method: str, *akwarglist: Any, **kwargs: Any) -> Any:
            call = super()._call_s3(method, *akwarglist, **kwargs)
            return await object_stores.within(object_stores.LIST_TIMEOUT_S, call)

    return BoundedS3FileSystem
