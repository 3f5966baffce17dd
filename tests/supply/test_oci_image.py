from __future__ import annotations

import gzip
import io
import json
import tarfile

from lockgate.supply.oci_image import build_image, layer_from_files, sha256_digest


def test_layers_are_reproducible_and_carry_folder_entries() -> None:
    files = {"app/model/weights.bin": b"\x00\x01", "etc/os-release": b"ID=debian\n"}
    one, two = layer_from_files(files), layer_from_files(dict(reversed(files.items())))
    assert one == two
    tar_bytes = gzip.decompress(one.blob.data)
    assert one.diff_id == sha256_digest(tar_bytes)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        entries = [(m.name, m.isdir()) for m in tar.getmembers()]
    assert entries == [
        ("app", True),
        ("app/model", True),
        ("etc", True),
        ("app/model/weights.bin", False),
        ("etc/os-release", False),
    ]


def test_manifest_points_at_config_and_layers() -> None:
    layer = layer_from_files({"a": b"b"})
    image = build_image(
        [layer],
        labels={"dev.lockgate.model.version": "3"},
        annotations={"dev.lockgate.model.version": "3"},
    )
    manifest = json.loads(image.manifest)
    assert manifest["layers"] == [layer.blob.descriptor()]
    assert manifest["config"]["digest"] == image.config.digest
    config = json.loads(image.config.data)
    assert config["rootfs"]["diff_ids"] == [layer.diff_id]
    assert config["config"]["Labels"] == {"dev.lockgate.model.version": "3"}
    assert image.digest == sha256_digest(image.manifest)
