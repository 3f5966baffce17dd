"""The model image's build context: a Dockerfile, the serving bundle and the serving runtime,
as one tar with sorted entries, fixed owners, modes and mtimes, so the same model gives the
same bytes (and the engine's layer cache gives the same image)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import lockgate

SERVING_USER = "10001"
MODEL_DIR = "/opt/model"
RUNTIME_DIR = "/opt/lockgate-serving"
FIXED_MTIME = 315532800  # 1980-01-01, the earliest time zip-based tools accept


def dockerfile(base: str, port: int) -> str:
    probe = json.dumps(["python3", "-m", "lockgate.serving.probe", f"http://127.0.0.1:{port}/ping"])
    return "\n".join(
        [
            f"FROM {base}",
            f"COPY lockgate {RUNTIME_DIR}/lockgate",
            f"COPY model {MODEL_DIR}",
            f"ENV PYTHONPATH={RUNTIME_DIR} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp",
            f"USER {SERVING_USER}",
            f"EXPOSE {port}",
            "STOPSIGNAL SIGTERM",
            f"HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD {probe}",
            'ENTRYPOINT ["python3", "-m", "lockgate.serving"]',
            f'CMD ["--model", "{MODEL_DIR}", "--port", "{port}"]',
            "",
        ]
    )


# What a model's build function may import from lockgate (``from lockgate.stages.train import
# TrainPlan``): the serving runtime carries the train contract under that name, without the
# training loop and its dependencies.
TRAIN_CONTRACT_SHIM = '''"""The train entrypoint contract, as the serving image carries it."""

from lockgate.stages.train.contract import DatasetShape, TrainContext, TrainPlan

__all__ = ["DatasetShape", "TrainContext", "TrainPlan"]
'''


def stage_context(folder: Path, bundle: Path, base: str, port: int) -> None:
    """Lay out the context folder: Dockerfile, model/ and the serving runtime (only
    ``lockgate/__init__.py``, ``lockgate/serving/`` and the train contract a model's entrypoint
    imports, so the image does not change when the rest of lockgate does)."""
    src = Path(lockgate.__file__).resolve().parent
    runtime = folder / "lockgate"
    runtime.mkdir(parents=True)
    shutil.copyfile(src / "__init__.py", runtime / "__init__.py")
    shutil.copytree(
        src / "serving", runtime / "serving", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    train = runtime / "stages" / "train"
    train.mkdir(parents=True)
    (runtime / "stages" / "__init__.py").write_text("")
    (train / "__init__.py").write_text(TRAIN_CONTRACT_SHIM)
    shutil.copyfile(src / "stages" / "train" / "contract.py", train / "contract.py")
    shutil.copytree(bundle, folder / "model", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "Dockerfile").write_text(dockerfile(base, port))


def context_tar(folder: Path) -> tuple[bytes, str]:
    """The folder as a deterministic tar, and its sha256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "", ""
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif path.is_file():
                data = path.read_bytes()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    return data, "sha256:" + hashlib.sha256(data).hexdigest()
