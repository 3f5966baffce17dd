"""A Key Vault access token for one stage attempt: the host's service principal
(``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET``) asks the Microsoft identity
platform for a token to the vault (scope ``https://vault.azure.net/.default``, or the sovereign
cloud's), and the stage is given only that token and its expiry, never the client secret.

Its lifetime is the identity platform's (about an hour by default; a token lifetime policy may
set it), not the stage's timeout: Entra ID takes no lifetime in the client-credentials request,
and its access tokens cannot be revoked before they expire.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lockgate.engine.kms.azure import AzureKeyVault


class VaultAccessTokens:
    """Mints Key Vault access tokens from the host's service principal."""

    def __init__(
        self,
        uri: str,
        credentials: Mapping[str, str],
        ca_file: Path | None,
        where: str = "encryption.stage_credentials",
    ) -> None:
        self.vault = AzureKeyVault(uri, credentials, where, ca_file)

    def for_stage(self, name: str, timeout: int | None) -> dict[str, str]:
        token, expiry = self.vault.access_token()
        return {"AZURE_ACCESS_TOKEN": token, "AZURE_ACCESS_TOKEN_EXPIRY": str(int(expiry))}

    def release(self, minted: Mapping[str, str]) -> str | None:
        return None  # the identity platform's access tokens are not revoked; they expire
