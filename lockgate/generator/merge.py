"""``--update``: fold a fresh rendering into a hand-edited CI file.

lockgate owns the jobs whose names start with ``lockgate-`` (and GitLab's hidden ``.lockgate-``
jobs) and, in a Jenkinsfile, the text between its markers. Everything else the user wrote (other
jobs, extra keys, comments) stays where it was.
"""

from __future__ import annotations

from typing import Any

from lockgate.errors import LockgateError
from lockgate.generator import jenkins
from lockgate.generator.yamltext import dump, load

OWNED_PREFIXES = ("lockgate-", ".lockgate-")
UNION_LISTS = {"stages"}  # GitLab: the user's stages stay, lockgate's are added
# Keys lockgate writes inside mappings it shares with the user (the workflow's triggers and its
# dispatch inputs, the top-level env and variables): each follows the fresh file, so a trigger
# or input the spec no longer asks for goes instead of lingering unseen by --check --update.
OWNED_PATHS = (
    ("on", "pull_request"),
    ("on", "push"),
    ("on", "schedule"),
    ("on", "repository_dispatch"),
    ("on", "workflow_dispatch", "inputs", "stage"),
    ("on", "workflow_dispatch", "inputs", "no_cache"),
    ("on", "workflow_dispatch", "inputs", "reason"),
    ("on", "workflow_dispatch", "inputs", "dataset"),
    ("env", "LOCKGATE_DATA_UPDATE"),
    ("variables", "LOCKGATE_SPEC"),
    ("variables", "LOCKGATE_IMAGE_NAME"),
    ("variables", "LOCKGATE_EVENT"),
    ("variables", "LOCKGATE_DATASET"),
)


class UpdateError(LockgateError):
    """The existing file cannot be merged with."""


def owned(key: Any) -> bool:
    return isinstance(key, str) and key.startswith(OWNED_PREFIXES)


def update_yaml(existing: str, fresh: str, where: str) -> str:
    try:
        old = load(existing)
    except Exception as exc:  # ruamel raises many types; all mean "not YAML we can merge into"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UpdateError(
            f"{where}: cannot --update, the file is not valid YAML: {first}"
        ) from None
    new = load(fresh)
    if old is None:
        return fresh
    if not isinstance(old, dict):
        raise UpdateError(f"{where}: cannot --update, the file is not a YAML mapping")
    _merge(old, new, top=True)
    for path in OWNED_PATHS:
        _drop_stale(old, new, path)
    return restore_comment_blocks(existing, dump(old))


def _drop_stale(old: Any, new: Any, path: tuple[str, ...]) -> None:
    """Remove ``path`` from ``old`` when ``new`` lacks it, and the mappings above it that this
    leaves empty and ``new`` lacks too."""
    chain: list[tuple[Any, str, bool]] = []  # (mapping, key in it, whether new has that key)
    here, fresh = old, new
    for name in path:
        if not isinstance(here, dict) or name not in here:
            return
        in_new = isinstance(fresh, dict) and name in fresh
        chain.append((here, name, in_new))
        here, fresh = here[name], fresh.get(name) if in_new else None
    mapping, key, in_new = chain.pop()
    if in_new:
        return
    del mapping[key]
    for mapping, key, in_new in reversed(chain):
        if in_new or mapping[key]:
            return
        del mapping[key]


def restore_comment_blocks(existing: str, merged: str) -> str:
    """Put back full-line comments the merge dropped, each before the line it preceded.

    The YAML library attaches a comment on its own line to the value *before* it; when that
    value is a lockgate job being rewritten, the user's comment about the next key went with it.
    A block whose following line is gone (it was inside a rewritten lockgate job), or is not
    unique in the result (so its place is not certain), stays out.
    """
    lines = merged.splitlines(keepends=True)
    for block, anchor in _comment_blocks(existing):
        if "".join(block) in merged or lines.count(anchor) != 1:
            continue
        at = lines.index(anchor)
        lines[at:at] = block
        merged = "".join(lines)
    return merged


def _comment_blocks(text: str) -> list[tuple[list[str], str]]:
    """Runs of full-line comments, each with the first content line after it."""
    blocks: list[tuple[list[str], str]] = []
    run: list[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("#"):
            run.append(line if line.endswith("\n") else line + "\n")
        elif stripped and run:
            blocks.append((run, line if line.endswith("\n") else line + "\n"))
            run = []
        elif stripped:
            run = []
    return blocks


def _merge(old: Any, new: Any, *, top: bool = False) -> None:
    for key, value in new.items():
        here = old.get(key) if key in old else None
        if isinstance(here, dict) and isinstance(value, dict) and not owned(key):
            _merge(here, value)
        elif top and key in UNION_LISTS and isinstance(here, list) and isinstance(value, list):
            for item in value:
                if item not in here:
                    here.append(item)
        elif key in old:
            old[key] = value
        else:
            _insert_in_order(old, new, key, value)
    for key in [k for k in old if owned(k) and k not in new]:
        del old[key]


def _insert_in_order(old: Any, new: Any, key: Any, value: Any) -> None:
    """A new lockgate key goes after the lockgate key that precedes it in the fresh file."""
    keys = list(new)
    position = len(old)
    for before in reversed(keys[: keys.index(key)]):
        if before in old:
            position = list(old).index(before) + 1
            break
    old.insert(position, key, value)


def update_groovy(existing: str, fresh: str, where: str) -> str:
    begin = existing.find(jenkins.BEGIN.split(":")[0])
    end = existing.find(jenkins.END, begin + 1)
    if begin < 0 or end < 0:
        raise UpdateError(
            f"{where}: cannot --update, no lockgate markers ({jenkins.END!r}); "
            "regenerate without --update or wrap the lockgate part in the markers"
        )
    end_of_line = existing.find("\n", end)
    tail = existing[end_of_line + 1 :] if end_of_line >= 0 else ""
    return existing[:begin] + fresh + tail


UPDATERS = {"yaml": update_yaml, "groovy": update_groovy}
