"""Azurite over HTTPS with a test CA, and a Microsoft identity platform token endpoint beside it
(tests/entra_id.py), for the Azure service-principal tests; the test's own writes go through the
blob SDK with the development account's key, trusting the same CA."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cloudstores import AZURITE_ACCOUNT, AZURITE_KEY, Azurite, start_azurite
from tests.engine.tls_ca import make_tls
from tests.entra_id import EntraTokenEndpoint


@dataclass
class BlobWriter:
    """The three filesystem calls a test lake makes (mkdir, pipe, rm), over HTTPS."""

    endpoint: str
    ca: Path

    def _service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(
            self.endpoint,
            credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
            connection_verify=str(self.ca),
        )

    def mkdir(self, container: str) -> None:
        self._service().create_container(container)

    def pipe(self, path: str, data: bytes) -> None:
        container, name = path.split("/", 1)
        self._service().get_blob_client(container, name).upload_blob(data, overwrite=True)

    def rm(self, container: str, recursive: bool = True) -> None:
        self._service().delete_container(container)


@dataclass
class AzureHttps:
    store: Azurite  # its endpoint is https://HOST:PORT/devstoreaccount1
    login: EntraTokenEndpoint
    ca: Path  # the CA that signed both servers' certificates

    @property
    def writer(self) -> BlobWriter:
        return BlobWriter(self.store.endpoint, self.ca)

    def stop(self) -> None:
        self.login.stop()
        self.store.stop()


def start_azure_https(binary: str, folder: Path, host: str = "127.0.0.1") -> AzureHttps:
    """Both servers on ``host`` (loopback, or the container bridge's gateway), each with a
    certificate for that address from one new CA."""
    tls = make_tls(folder / "store", host)
    login_tls = make_tls(folder / "login", host, issuer=tls)
    store = start_azurite(binary, folder / "azurite.log", tls, host=host)
    return AzureHttps(store, EntraTokenEndpoint(login_tls, host), tls.ca)
