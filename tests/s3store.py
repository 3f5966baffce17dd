"""A real S3 API server for the object-store tests: moto's server (``moto[server]``), started as
a subprocess on a free loopback port and stopped after the session.

It speaks S3 over HTTP and checks signatures once provisioning is done: an IAM user with an
access key allowed ``s3:*`` (and a role it may assume, for temporary credentials with a session
token) is created, then authentication is switched on, so a wrong key or an anonymous request
is refused the way S3 refuses it. The test process's own client gets
explicit credentials and endpoint, never the host's AWS environment.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

ROLE = "ingest-reader"


def _policy(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


_ALLOW_S3 = _policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
_ALLOW_ASSUME = _policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
_TRUST = _policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})


@dataclass(frozen=True)
class S3Store:
    endpoint: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name="us-east-1",
        ).client("s3", endpoint_url=self.endpoint)

    def temporary_credentials(self) -> dict[str, str]:
        """Short-lived credentials (key id, secret, session token) from assuming a role."""
        import boto3

        sts = boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name="us-east-1",
        ).client("sts", endpoint_url=self.endpoint)
        arn = f"arn:aws:iam::123456789012:role/{ROLE}"
        creds = sts.assume_role(RoleArn=arn, RoleSessionName="ingest")["Credentials"]
        return {
            "access_key_id": creds["AccessKeyId"],
            "secret_access_key": creds["SecretAccessKey"],
            "session_token": creds["SessionToken"],
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("moto server did not answer within 60 s")


def start_store(host: str = "127.0.0.1") -> S3Store:
    """A server on ``host`` (loopback, or the container bridge's gateway for a container)."""
    port = _free_port(host)
    endpoint = f"http://{host}:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"},  # the server needs no host setting, least of all AWS_*
    )
    try:
        _wait(endpoint, process)
        import boto3

        admin = boto3.session.Session(
            aws_access_key_id="provisioning", aws_secret_access_key="provisioning"
        )
        iam = admin.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        iam.create_user(UserName="ingest")
        iam.put_user_policy(
            UserName="ingest",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        iam.put_user_policy(UserName="ingest", PolicyName="sts", PolicyDocument=_ALLOW_ASSUME)
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=_TRUST)
        iam.put_role_policy(RoleName=ROLE, PolicyName="s3", PolicyDocument=_ALLOW_S3)
        key = iam.create_access_key(UserName="ingest")["AccessKey"]
        request = urllib.request.Request(
            endpoint + "/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},  # a form body would be parsed away
        )
        with urllib.request.urlopen(request, timeout=10):
            pass  # from here on every request must carry a valid signature
    except BaseException:
        process.kill()
        process.wait()
        raise
    return S3Store(endpoint, key["AccessKeyId"], key["SecretAccessKey"], process)
