"""AWS KMS through boto3: ``GenerateDataKey`` for a fresh data key, ``Decrypt`` to unwrap it.

The URI follows cosign's form, ``awskms://[ENDPOINT]/KEY`` where KEY is a key id, a key ARN,
``alias/NAME`` or an alias ARN. ENDPOINT (``host[:port]``) is spoken to over HTTPS, except on a
loopback address (a local KMS, e.g. in tests), which is plain HTTP; its certificate is checked
against ``encryption.ca_file`` when set, else the system's trust store. Credentials come only from
the declared secrets named in ``encryption.credentials``; the region from ``AWS_REGION`` there,
else from the ARN.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockgate.engine.kms import DataKey
from lockgate.engine.kms.http import trust
from lockgate.engine.sealing import SealError
from lockgate.loopback import is_loopback_host

_DENIED = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "IncompleteSignature",
}
_NO_KEY = {"NotFoundException", "DisabledException", "KMSInvalidStateException"}
_OTHER_KEY = {"IncorrectKeyException", "InvalidCiphertextException"}


def parse(uri: str) -> tuple[str | None, str]:
    """``(endpoint URL or None, key)`` from ``awskms://[ENDPOINT]/KEY``."""
    rest = uri.removeprefix("awskms://")
    host, sep, key = rest.partition("/")
    if not sep or not key:
        raise SealError(
            f"{uri}: expected awskms://[ENDPOINT]/KEY (KEY: a key id, key ARN, alias/NAME or "
            "alias ARN; e.g. awskms:///alias/lockgate-data)"
        )
    if not host:
        return None, key
    scheme = "http" if is_loopback_host(host) else "https"
    return f"{scheme}://{host}", key


class AwsKms:
    def __init__(
        self, uri: str, credentials: Mapping[str, str], where: str, ca_file: Path | None = None
    ) -> None:
        self.uri, self.where = uri, where
        trust(ca_file, where)  # a clear error now for a file that is not a CA bundle
        self.endpoint, self.key = parse(uri)
        self.region = region = credentials.get("AWS_REGION") or _arn_region(self.key)
        if not region:
            raise SealError(
                f"{where}: no AWS region: give the key as an ARN, or add AWS_REGION to "
                "encryption.credentials"
            )
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials.get("AWS_SESSION_TOKEN") or None,
            region_name=region,
        )
        config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2})
        # boto3 reads no CA setting from the environment here: the bundle is given explicitly
        verify: str | bool = str(ca_file) if ca_file is not None else True
        self.client = session.client(
            "kms", endpoint_url=self.endpoint, config=config, verify=verify
        )

    def generate(self) -> DataKey:
        resp = self._call("GenerateDataKey", KeyId=self.key, KeySpec="AES_256")
        wrapped = base64.b64encode(resp["CiphertextBlob"]).decode()
        return DataKey(resp["Plaintext"], wrapped, resp["KeyId"])

    def unwrap(self, wrapped: str, kms_key: str) -> bytes:
        blob = base64.b64decode(wrapped)
        resp = self._call("Decrypt", CiphertextBlob=blob, KeyId=self.key)
        if resp.get("KeyId") and resp["KeyId"] != kms_key:
            raise SealError(
                f"{self.where}: the data key was wrapped by KMS key {kms_key}, but "
                f"{self.key} is {resp['KeyId']} now; configure the key that wrapped it"
            )
        return bytes(resp["Plaintext"])

    def key_arn(self) -> str:
        """The ARN of the configured key (an alias or key id is looked up: ``DescribeKey``)."""
        if self.key.startswith("arn:") and ":key/" in self.key:
            return self.key
        return str(self._call("DescribeKey", KeyId=self.key)["KeyMetadata"]["Arn"])

    def _call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            SSLError,
        )

        method = {
            "GenerateDataKey": self.client.generate_data_key,
            "Decrypt": self.client.decrypt,
            "DescribeKey": self.client.describe_key,
        }
        where = self.where
        try:
            return dict(method[op](**kwargs))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _DENIED or status in (401, 403):
                raise SealError(
                    f"{where}: AWS KMS denied {op} on {self.key} ({code}): check the "
                    "credentials in encryption.credentials and the key policy"
                ) from None
            if code in _NO_KEY:
                raise SealError(
                    f"{where}: AWS KMS key {self.key} cannot be used ({code}): check the key id, "
                    "alias and region, and that the key is enabled"
                ) from None
            if code in _OTHER_KEY:
                raise SealError(
                    f"{where}: the data key was not wrapped by {self.key} ({code}): configure "
                    "the KMS key that wrapped it, or re-run with --no-cache"
                ) from None
            raise SealError(f"{where}: AWS KMS {op} failed: {code}") from None
        except SSLError as exc:
            raise SealError(
                f"{where}: TLS to AWS KMS at {self.endpoint or 'its regional endpoint'} failed "
                f"({_tls_detail(exc)}): check encryption.ca_file (the CA that signed the KMS's "
                "certificate) and the host name in the KMS address; nothing was sealed"
            ) from None
        except EndpointConnectionError:
            raise SealError(
                f"{where}: cannot reach AWS KMS at {self.endpoint or 'its regional endpoint'}: "
                "check the endpoint and the network; nothing was sealed"
            ) from None
        except BotoCoreError as exc:
            raise SealError(f"{where}: AWS KMS {op} failed: {type(exc).__name__}") from None


def _arn_region(key: str) -> str | None:
    parts = key.split(":")
    return parts[3] if key.startswith("arn:") and len(parts) > 4 and parts[3] else None


def _tls_detail(exc: BaseException) -> str:
    """The TLS reason under botocore's SSLError, e.g. ``the server's certificate is not
    trusted: ...``."""
    import ssl

    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cause = todo.pop(0)
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the server's certificate is not trusted: {cause.verify_message or cause}"
        if type(cause).__name__ == "CertificateError":  # urllib3's own host name check
            return f"the server's certificate is not trusted: {cause}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}; is it an HTTPS server?"
        todo += [c for c in (cause.__cause__, cause.__context__) if c is not None]
        todo += [a for a in getattr(cause, "args", ()) if isinstance(a, BaseException)]
        todo += [v for v in getattr(cause, "kwargs", {}).values() if isinstance(v, BaseException)]
    return "TLS failed"
