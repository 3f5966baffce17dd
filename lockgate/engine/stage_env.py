"""The environment a stage starts with: the stage contract, its declared ``env`` and secrets,
and a small base taken from the host; nothing else.

The base (documented in docs/design.md):

- where it runs: ``PATH``, ``HOME``, ``USER``, ``LOGNAME``, ``SHELL``, ``TMPDIR`` (local
  executor only; a container has its image's own),
- language and time: ``LANG``, ``LANGUAGE``, ``LC_*``, ``TZ``,
- the network: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``, ``ALL_PROXY`` (either case), and
  CA bundles ``SSL_CERT_FILE``, ``SSL_CERT_DIR``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``,
  ``NODE_EXTRA_CA_CERTS`` (local only: a host path means nothing in a container),
- the CI's own description of the job: ``CI``, ``GITHUB_*``, ``RUNNER_*``, ``GITLAB_CI``,
  ``CI_*``, ``JENKINS_URL``, ``BUILD_*``, ``JOB_*``, ``BRANCH_NAME``, ``CHANGE_*`` and the
  Jenkins git plugin's ``GIT_COMMIT``, ``GIT_BRANCH``, ``GIT_URL``, ... (:data:`JENKINS_GIT`; not
  git's own settings such as ``GIT_SSL_NO_VERIFY``, ``GIT_ASKPASS`` or ``GIT_CONFIG_*``, which
  would change how a stage's git behaves and may carry a header with a credential), except any
  whose name says it carries a credential (``TOKEN``, ``PASSWORD``, ``SECRET``, ``JWT``,
  ``KEY``, ``CREDENTIAL``): a stage that needs one declares it as a secret. A URL among them
  loses its user and password (GitLab's ``CI_REPOSITORY_URL`` holds the job token that way),
- the team's tracking server, ``MLFLOW_TRACKING_URI`` (a server URL everywhere; a local
  ``sqlite:``/``file:`` store or a plain path only under the local executor, where the path
  means the same): CI keeps it as a secret/variable for the train, evaluate and package jobs,
  and without it evaluation in CI would compare against an empty store. Its credentials
  (``MLFLOW_TRACKING_TOKEN``, ...) are secrets like any other,
- the CI job's OIDC identity for keyless signing (GitHub's ``ACTIONS_ID_TOKEN_REQUEST_URL`` and
  ``_TOKEN``, GitLab's ``SIGSTORE_ID_TOKEN`` from ``id_tokens:``) only for the built-in
  ``lockgate/sign`` stage and only under the local executor, the way CI jobs run stages: in a
  container the value would sit in the container's (or the Dagger query's) configuration,
- the container engine (``DOCKER_HOST``, ``DOCKER_CONFIG``, ``DOCKER_CERT_PATH``,
  ``DOCKER_TLS_VERIFY``) only for a stage that declares ``engine: true``.

``LOCKGATE_*`` host variables are lockgate's own settings and never pass through: the contract
sets the stage's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LOCAL_ONLY = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TMPDIR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
    }
)
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
EVERYWHERE = frozenset({"LANG", "LANGUAGE", "TZ", *_PROXIES, *(p.lower() for p in _PROXIES)})
CI_NAMES = frozenset({"CI", "GITLAB_CI", "JENKINS_URL", "BRANCH_NAME"})
CI_PREFIXES = ("GITHUB_", "RUNNER_", "CI_", "BUILD_", "JOB_", "CHANGE_")
# what the Jenkins git plugin says of the checkout (GIT_URL_1, _2, ... for several remotes)
JENKINS_GIT = frozenset(
    {
        "GIT_COMMIT",
        "GIT_PREVIOUS_COMMIT",
        "GIT_PREVIOUS_SUCCESSFUL_COMMIT",
        "GIT_BRANCH",
        "GIT_LOCAL_BRANCH",
        "GIT_URL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
    }
)
_GIT_URL_N = re.compile(r"GIT_URL_\d+")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")
_USERINFO_ANYWHERE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#@\s\"']+)@")
ENGINE = frozenset({"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"})
TRACKING_URI = "MLFLOW_TRACKING_URI"
SIGNING_STAGE = "lockgate/sign"
CI_IDENTITY = frozenset(
    {"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SIGSTORE_ID_TOKEN"}
)
_CREDENTIAL = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|JWT|KEY|CREDENTIAL|AUTH", re.IGNORECASE)


def _ci_variable(name: str) -> bool:
    described = name in CI_NAMES or name.startswith(CI_PREFIXES)
    if not (described or name in JENKINS_GIT or _GIT_URL_N.fullmatch(name)):
        return False
    return _CREDENTIAL.search(name) is None


def without_userinfo(value: str) -> str:
    """``scheme://user:password@host/...`` -> ``scheme://host/...``; anything else as it is."""
    return _USERINFO.sub(r"\1", value, count=1)


def url_credentials(value: str) -> list[str]:
    """What a masker hides of URLs passed on whole, anywhere in ``value`` (a URL, or the JSON of
    a built-in stage's ``with:``): each userinfo (``user:password``, or a token written as the
    user) and the password alone, also percent-decoded. A stage gets ``MLFLOW_TRACKING_URI`` as
    it is (a database store's URL may carry both), so its log and the run's records must not
    show them."""
    from urllib.parse import unquote

    out = []
    for found in _USERINFO_ANYWHERE.finditer(value):
        info = found.group(1)
        _user, colon, password = info.partition(":")
        out += [info, *((password, unquote(password)) if colon and password else ())]
    return out


def _tracking_uri(value: str, *, in_container: bool) -> bool:
    """A server URL means the same anywhere; a local store's path only on this host."""
    scheme = value.split(":", 1)[0].lower() if "://" in value else ""
    return not in_container or scheme not in ("", "file", "sqlite")


def base_env(
    host: Mapping[str, str], *, in_container: bool, engine: bool, signs: bool = False
) -> dict[str, str]:
    """The host variables a stage may see (see the module's docstring)."""
    out = {}
    for name, value in host.items():
        if name.startswith("LOCKGATE_"):
            continue
        if _ci_variable(name):
            out[name] = without_userinfo(value)
        elif (
            name in EVERYWHERE
            or name.startswith("LC_")
            or (not in_container and name in LOCAL_ONLY)
            or (engine and name in ENGINE and not in_container)
            or (name == TRACKING_URI and _tracking_uri(value, in_container=in_container))
            or (signs and not in_container and name in CI_IDENTITY)
        ):
            out[name] = value
    return out
