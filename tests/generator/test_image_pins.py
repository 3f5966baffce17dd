"""``lockgate generate --pin-images`` against a real docker-registry 2.8 with ``auth: token`` and
the test token server (RS256 JWTs), standing in for Docker Hub through ``--pin-from``: the
images the GitLab files name are pushed there first, and the digests written into the spec must
be the ones the registry itself reports (read here with plain HTTP requests, not lockgate's
client). Docker Hub cannot be reached from the test machines; the lookup code is the same."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.generator.public_images import PUBLIC_IMAGES
from lockgate.spec.loader import load_spec
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import build_image, layer_from_files
from lockgate.supply.registry import RegistryClient
from lockgate.supply.registry_http import RegistryAccess
from tests.supply.conftest import _need_registry
from tests.supply.registry_server import RegistryServer, free_port
from tests.supply.token_server import ACCOUNTS, SERVICE, TokenServer, start_token_registry

QUICKSTART = Path(__file__).parents[2] / "pipelines" / "quickstart" / "lockgate.yaml"
PUSHER = ("lockgate", ACCOUNTS["lockgate"][0])


@pytest.fixture(scope="module")
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RegistryServer, TokenServer]]:
    _need_registry(request.config)
    server, tokens = start_token_registry(tmp_path_factory.mktemp("pin-registry"))
    yield server, tokens
    server.stop()
    tokens.stop()


def _push(server: RegistryServer, repository: str, tag: str, marker: str) -> str:
    """Push a small image as REPOSITORY:TAG with the pushing account; its digest."""
    assert server.tls is not None
    access = RegistryAccess(server.host, *PUSHER, ca_file=server.tls[0])
    image = build_image([layer_from_files({"marker": marker.encode()})])
    ref = ImageRef(server.host, repository, tag)
    return RegistryClient(access).push_image(ref, image).digest


def _hub_path(image: str) -> tuple[str, str]:
    """Docker Hub's repository and tag of NAME:TAG: a one-part name lives under library/."""
    name, tag = image.rsplit(":", 1)
    return (name if "/" in name else f"library/{name}"), tag


def _push_public_images(server: RegistryServer, prefix: str, marker: str) -> dict[str, str]:
    """Every public image the generated files name, under PREFIX/ as a mirror holds them."""
    pushed = {}
    for image in PUBLIC_IMAGES:
        repository, tag = _hub_path(image)
        pushed[image] = _push(server, f"{prefix}/{repository}", tag, marker)
    return pushed


def _reported_digest(server: RegistryServer, tokens: TokenServer, repository: str, tag: str) -> str:
    """The ``Docker-Content-Digest`` the registry sends for a GET of the manifest, with a token
    fetched by hand from the token server (as the pushing account)."""
    assert server.tls is not None
    context = ssl.create_default_context(cafile=str(server.tls[0]))
    query = urllib.parse.urlencode({"service": SERVICE, "scope": f"repository:{repository}:pull"})
    basic = base64.b64encode(":".join(PUSHER).encode()).decode()
    asked = urllib.request.Request(
        f"{tokens.realm}?{query}", headers={"Authorization": f"Basic {basic}"}
    )
    with urllib.request.urlopen(asked, context=context, timeout=10) as answer:
        token = json.loads(answer.read())["token"]
    manifest = urllib.request.Request(
        f"https://{server.host}/v2/{repository}/manifests/{tag}",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.oci.image.index.v1+json",
        },
    )
    with urllib.request.urlopen(manifest, context=context, timeout=10) as answer:
        return str(answer.headers["Docker-Content-Digest"])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository holding the quickstart spec (with its comments), and a docker config
    without credentials, so lookups are anonymous unless a test writes one."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(QUICKSTART, root / "lockgate.yaml")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return root


def _generate(root: Path, server: RegistryServer, *argv: str) -> int:
    assert server.tls is not None
    return main(
        ["generate", "gitlab", "--root", str(root), "--registry-ca", str(server.tls[0]), *argv]
    )


def test_pin_images_writes_the_digests_the_registry_reports_and_generation_uses_them(
    registry: tuple[RegistryServer, TokenServer], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, tokens = registry
    pushed = _push_public_images(server, "public/hub", "first")
    before = (project / "lockgate.yaml").read_text()

    code = _generate(project, server, "--pin-images", "--pin-from", f"{server.host}/public/hub")
    out, err = capsys.readouterr()
    assert code == 0, err

    pipeline = load_spec(project / "lockgate.yaml")
    pins = dict(p.split("@", 1) for p in pipeline.ci.images)
    assert pins == pushed
    for image in PUBLIC_IMAGES:
        repository, tag = _hub_path(image)
        reported = _reported_digest(server, tokens, f"public/hub/{repository}", tag)
        assert pins[image] == reported
        assert f"pinned {image}@{reported} (looked up at {server.host}/public/hub/" in out
    after = (project / "lockgate.yaml").read_text()
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(c in after.splitlines() for c in comments)
    assert after.startswith(before.rstrip("\n").split("\n", 1)[0])

    gitlab = (project / ".gitlab-ci.yml").read_text()
    for image, digest in pushed.items():
        assert f"{image}@{digest}" in gitlab
        assert gitlab.count(image) == gitlab.count(f"{image}@{digest}")
    assert "warning:" not in err

    check = ["generate", "gitlab", "--root", str(project), "--check", "--require-digests"]
    assert main(check) == 0
    assert "warning:" not in capsys.readouterr().err


def test_pin_images_again_follows_a_moved_tag_and_keeps_one_entry_per_image(
    registry: tuple[RegistryServer, TokenServer], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = registry
    mirror = f"{server.host}/public/moving"
    old = _push_public_images(server, "public/moving", "old")
    assert _generate(project, server, "--pin-images", "--pin-from", mirror) == 0
    new = _push_public_images(server, "public/moving", "new")
    assert set(old.values()).isdisjoint(new.values())

    assert _generate(project, server, "--pin-images", "--pin-from", mirror) == 0
    capsys.readouterr()
    images = load_spec(project / "lockgate.yaml").ci.images
    assert sorted(images) == sorted(f"{i}@{d}" for i, d in new.items())
    gitlab = (project / ".gitlab-ci.yml").read_text()
    assert all(d not in gitlab for d in old.values())


def test_a_private_mirror_needs_credentials_from_the_docker_config(
    registry: tuple[RegistryServer, TokenServer],
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = registry
    pushed = _push_public_images(server, "team/hub", "private")
    before = (project / "lockgate.yaml").read_text()

    code = _generate(project, server, "--pin-images", "--pin-from", f"{server.host}/team/hub")
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"registry {server.host}" in err and "anonymous" in err and "pull" in err
    assert (project / "lockgate.yaml").read_text() == before
    assert not (project / ".gitlab-ci.yml").exists()

    reader, password = "reader", ACCOUNTS["reader"][0]
    auth = base64.b64encode(f"{reader}:{password}".encode()).decode()
    (tmp_path / "docker").mkdir()
    config = {"auths": {server.host: {"auth": auth}}}
    (tmp_path / "docker" / "config.json").write_text(json.dumps(config))
    code = _generate(project, server, "--pin-images", "--pin-from", f"{server.host}/team/hub")
    assert code == 0, capsys.readouterr().err
    assert dict(p.split("@", 1) for p in load_spec(project / "lockgate.yaml").ci.images) == pushed


def test_an_unknown_tag_and_an_unreachable_registry_each_fail_in_one_line(
    registry: tuple[RegistryServer, TokenServer], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = registry
    before = (project / "lockgate.yaml").read_text()

    code = _generate(project, server, "--pin-images", "--pin-from", f"{server.host}/public/empty")
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1
    assert "no such image" in err and "public/empty/library/" in err

    nobody = f"127.0.0.1:{free_port()}"
    code = _generate(project, server, "--pin-images", "--pin-from", nobody)
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1
    assert f"cannot reach https://{nobody}" in err
    assert (project / "lockgate.yaml").read_text() == before


def test_pin_images_refuses_check_and_the_registry_flags_need_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "gitlab", "--root", str(project), "--pin-images", "--check"]) != 0
    assert "--pin-images rewrites the spec; run it without --check" in capsys.readouterr().err
    assert main(["generate", "gitlab", "--root", str(project), "--pin-from", "mirror.test"]) != 0
    assert "go with --pin-images" in capsys.readouterr().err


def test_github_files_name_no_public_image_so_there_is_nothing_to_pin(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (project / "lockgate.yaml").read_text()
    assert main(["generate", "github", "--root", str(project), "--pin-images"]) == 0
    assert "nothing to pin" in capsys.readouterr().out
    assert (project / "lockgate.yaml").read_text() == before


def test_a_public_base_is_pinned_in_place_and_a_private_registry_base_on_its_own_registry(
    registry: tuple[RegistryServer, TokenServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, tokens = registry
    pushed = _push_public_images(server, "public/bases", "base")
    own = _push(server, "public/team/base", "1.0", "own base")
    root = tmp_path / "repo"
    root.mkdir()
    (root / "lockgate.yaml").write_text(
        "# a hosted base, and a stage on the team's own base\n"
        "version: 1\nname: demo\nimage: {base: python:3.11-slim-bookworm}\nstages:\n"
        "  train:\n    run: [python3, train.py]\n"
        f"    image: {{base: '{server.host}/public/team/base:1.0'}}  # ours\n"
    )
    mirror = f"{server.host}/public/bases"
    assert _generate(root, server, "--pin-images", "--pin-from", mirror) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    pipeline = load_spec(root / "lockgate.yaml")
    assert pipeline.image.base == f"python:3.11-slim-bookworm@{pushed['python:3.11-slim-bookworm']}"
    stage_image = pipeline.stages["train"].image
    assert stage_image is not None
    assert stage_image.base == f"{server.host}/public/team/base:1.0@{own}"
    assert own == _reported_digest(server, tokens, "public/team/base", "1.0")
    assert f"(looked up at {server.host}/public/team/base:1.0)" in out  # not under the mirror
    text = (root / "lockgate.yaml").read_text()
    assert "# a hosted base" in text and "# ours" in text
    check = ["generate", "gitlab", "--root", str(root), "--check", "--require-digests"]
    assert main(check) == 0
    assert "warning:" not in capsys.readouterr().err
