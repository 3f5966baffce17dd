"""``lockgate validate`` on 2,000 seeded mutations of the reference specs and the examples: every
one ends in ``ok`` or a LockgateError, none in an internal error, none past its time limit.

Everything is real: libyaml, pydantic, the validate command's own parser and code; the first
mutants also go through the CLI's whole dispatch, which must answer the same. A crash found here
is kept as an example in tests/spec/examples (bad/ with its expected message, or good/)."""

from __future__ import annotations

import collections

from tests.spec.mutations import EDITS, mutants, through_command, through_dispatch, validate

SEED = 11
COUNT = 2_000
LIMIT_S = 5.0  # per spec; a located error takes milliseconds, so this only catches hangs


def test_mutated_specs_never_crash_or_hang(tmp_path):
    spec = tmp_path / "lockgate.yaml"
    kinds: collections.Counter[str] = collections.Counter()
    bad = []
    for mutant in mutants(SEED, COUNT):
        spec.write_text(mutant.text)
        outcome = validate(spec, LIMIT_S, through_command)
        kinds[outcome.kind] += 1
        if outcome.kind in {"internal", "hang"}:
            kept = tmp_path / f"mutant-{mutant.number}.yaml"
            kept.write_text(mutant.text)
            bad.append(f"{kept} ({mutant.source}, {'+'.join(mutant.edits)}): {outcome.detail}")
    assert not bad, f"{len(bad)} of {COUNT} mutants crashed or hung:\n" + "\n".join(bad[:5])
    assert kinds["ok"] + kinds["refused"] == COUNT
    assert kinds["ok"] > 0 and kinds["refused"] > 0, kinds  # both outcomes are exercised


def test_the_command_answers_as_the_whole_dispatch(tmp_path):
    spec = tmp_path / "lockgate.yaml"
    kinds = set()
    for mutant in mutants(SEED, 60):
        spec.write_text(mutant.text)
        direct = validate(spec, LIMIT_S, through_command)
        dispatched = validate(spec, LIMIT_S, through_dispatch)
        assert (direct.kind, direct.detail) == (dispatched.kind, dispatched.detail), mutant.number
        kinds.add(direct.kind)
    assert kinds == {"ok", "refused"}


def test_mutants_are_reproducible_and_use_every_edit():
    first = [(m.source, m.edits, m.text) for m in mutants(SEED, 300)]
    again = [(m.source, m.edits, m.text) for m in mutants(SEED, 300)]
    assert first == again
    used = {edit for _, edits, _ in first for edit in edits}
    assert used == {name for name, _ in EDITS}


def test_the_harness_reports_a_hang(tmp_path):
    spec = tmp_path / "lockgate.yaml"
    spec.write_text("version: 1\nname: demo\nimage: {base: b}\nstages: {a: {run: 'true'}}\n")
    assert validate(spec, LIMIT_S).kind == "ok"
    assert validate(spec, 0.000_001).kind == "hang"
