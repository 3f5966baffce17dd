"""Cross-stage rules of the loader that the example folders do not reach: cycles in graphs far
deeper than Python's recursion limit."""

from __future__ import annotations

import itertools
import sys

from lockgate.spec.loader import find_cycle


def _chain(n: int) -> dict[str, list[str]]:
    """``s{n-1}`` needs ``s{n-2}`` ... needs ``s0``, listed from the end, as a spec may list it."""
    return {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(n - 1, -1, -1)}


def test_a_chain_longer_than_the_recursion_limit_has_no_cycle():
    assert find_cycle(_chain(sys.getrecursionlimit() + 200)) == []


def test_a_cycle_through_a_long_chain_is_found_in_order():
    graph = _chain(1200)
    graph["s0"] = ["s1199"]
    cycle = find_cycle(graph)
    assert cycle[0] == cycle[-1] == "s1199"
    assert len(cycle) == 1201
    assert all(graph[a] == [b] for a, b in itertools.pairwise(cycle))


def test_short_cycles_and_diamonds():
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) == []
