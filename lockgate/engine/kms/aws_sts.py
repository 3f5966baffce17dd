"""Short-lived AWS credentials for one stage: ``AssumeRole`` with a session policy that allows
``kms:Decrypt`` and ``kms:GenerateDataKey`` on the one key ARN and nothing else.

The host's credentials (``encryption.credentials``) assume ``encryption.role_arn``; what the
stage may do is what the role allows *and* the session policy allows. The session lasts the
stage's timeout plus a minute to start its container, within STS's bounds (15 minutes to 12
hours); the role's own maximum session duration may be lower, and STS then refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.engine.kms.aws import AwsKms, _tls_detail
from lockgate.engine.sealing import SealError
from lockgate.loopback import is_loopback_host

MIN_SECONDS, MAX_SECONDS = 900, 43_200  # what STS takes in DurationSeconds
NO_TIMEOUT_SECONDS = 3_600  # a stage with no timeout: STS's default session
START_MARGIN = 60  # the session begins before the stage's clock does


def session_seconds(timeout: int | None) -> int:
    """How long a stage's credentials last: its timeout plus a minute, within STS's bounds."""
    if timeout is None:
        return NO_TIMEOUT_SECONDS
    return max(MIN_SECONDS, min(MAX_SECONDS, timeout + START_MARGIN))


def session_policy(key_arn: str) -> str:
    """The session policy: the two calls a stage makes, on the one key."""
    statement = {
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": key_arn,
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, sort_keys=True)


def session_name(pipeline: str, stage: str) -> str:
    """``lockgate-PIPELINE-STAGE`` in the characters and length STS takes (it shows in the
    account's CloudTrail as the assumed role's session)."""
    return re.sub(r"[^\w+=,.@-]", "-", f"lockgate-{pipeline}-{stage}")[:64]


@dataclass(frozen=True)
class Minted:
    access_key_id: str
    secret_access_key: str
    session_token: str
    region: str

    def __repr__(self) -> str:
        return f"Minted(access_key_id={self.access_key_id!r})"


class RoleMinter:
    """Mints stage credentials from the host's credentials; one ``DescribeKey`` (an alias or
    key id) per process, one ``AssumeRole`` per call."""

    def __init__(
        self,
        uri: str,
        credentials: Mapping[str, str],
        role_arn: str,
        sts_endpoint: str | None,
        ca_file: Path | None,
        where: str = "encryption.stage_credentials",
    ) -> None:
        self.kms = AwsKms(uri, credentials, f"encryption.key ({uri})", ca_file)
        self.role_arn, self.where = role_arn, where
        self._key_arn: str | None = None
        import boto3
        from botocore.config import Config

        if sts_endpoint:
            scheme = "http" if is_loopback_host(sts_endpoint) else "https"
            self.endpoint: str | None = f"{scheme}://{sts_endpoint}"
        else:
            self.endpoint = None
        session = boto3.session.Session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials.get("AWS_SESSION_TOKEN") or None,
            region_name=self.kms.region,
        )
        config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2})
        verify: str | bool = str(ca_file) if ca_file is not None else True
        self.sts = session.client("sts", endpoint_url=self.endpoint, config=config, verify=verify)

    def key_arn(self) -> str:
        if self._key_arn is None:
            self._key_arn = self.kms.key_arn()
        return self._key_arn

    def mint(self, name: str, seconds: int) -> Minted:
        """Credentials for the session ``name`` lasting ``seconds``, allowed only the two KMS
        calls on the key."""
        policy = session_policy(self.key_arn())
        resp = self._assume(RoleSessionName=name, Policy=policy, DurationSeconds=seconds)
        got, region = resp["Credentials"], str(self.kms.region)
        return Minted(got["AccessKeyId"], got["SecretAccessKey"], got["SessionToken"], region)

    def for_stage(self, name: str, timeout: int | None) -> dict[str, str]:
        """What the stage's AWS KMS client needs, for the session ``name``."""
        minted = self.mint(name, session_seconds(timeout))
        return {
            "AWS_ACCESS_KEY_ID": minted.access_key_id,
            "AWS_SECRET_ACCESS_KEY": minted.secret_access_key,
            "AWS_SESSION_TOKEN": minted.session_token,
            "AWS_REGION": minted.region,
        }

    def release(self, minted: Mapping[str, str]) -> str | None:
        return None  # an STS session cannot be ended early; it expires

    def _assume(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            SSLError,
        )

        where, role, at = self.where, self.role_arn, self.endpoint or "its regional endpoint"
        try:
            return dict(self.sts.assume_role(RoleArn=role, **kwargs))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            said = " ".join(str(error.get("Message", "")).split())[:300]
            detail = f"{code}: {said}" if said else code
            if code == "ValidationError" and "DurationSeconds" in said:
                hint = "raise the role's maximum session duration, or lower the stage's timeout"
            elif code in ("AccessDenied", "AccessDeniedException"):
                hint = (
                    "allow the credentials in encryption.credentials sts:AssumeRole on it, and "
                    "name them in the role's trust policy"
                )
            else:
                hint = "check encryption.role_arn and the credentials in encryption.credentials"
            raise SealError(
                f"{where}: STS refused AssumeRole on {role} ({detail}): {hint}; the stage was "
                "not started"
            ) from None
        except SSLError as exc:
            raise SealError(
                f"{where}: TLS to STS at {at} failed ({_tls_detail(exc)}): check "
                "encryption.ca_file and encryption.sts_endpoint; the stage was not started"
            ) from None
        except EndpointConnectionError:
            raise SealError(
                f"{where}: cannot reach STS at {at}: check encryption.sts_endpoint and the "
                "network; the stage was not started"
            ) from None
        except BotoCoreError as exc:
            raise SealError(f"{where}: STS AssumeRole failed: {type(exc).__name__}") from None
