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
    return dump(old)


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
