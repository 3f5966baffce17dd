"""``with: capture:``. ``compile`` runs on CPU with real ``torch.compile`` (inductor, the host's C++
compiler); ``cuda-graph`` needs a CUDA device, which this machine lacks: here it must fall back
to eager steps with one logged reason. The graph itself is exercised by
``benchmarks/train/gpu_check.sh`` on a GPU machine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from lockgate.stages.train import main  # noqa: E402
from lockgate.stages.train.capture import (  # noqa: E402
    choose_capture,
    make_capturable,
    probe_capture,
)
from lockgate.stages.train.plan_defaults import default_loss, default_optimizer  # noqa: E402
from tests.stages.train.test_loop import trainer  # noqa: E402
from tests.stages.train.test_train import ctx_for  # noqa: E402

CPU = torch.device("cpu")
# Compiled kernels fuse and reorder float operations, so losses agree to rounding, not bit
# for bit: 1e-4 relative on every epoch's mean training loss.
LOSS_RTOL = 1e-4
# torch.compile's own import path warns about torch.jit internals; not lockgate's to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
)


def test_compile_matches_eager_losses_with_a_ragged_last_batch() -> None:
    losses = {}
    for mode in ("off", "compile"):
        t = trainer(200, 3, valid=False, capture=mode)  # 12 batches of 16, one of 8: ragged
        outcome = t.run()
        assert outcome.global_step == 3 * 13
        losses[mode] = [row["train_loss"] for row in outcome.history]
        # the first compiled step (one full batch) compiles: its time and samples are kept
        # apart, and samples/s is the rate of the other steps
        paid = (16, 3 * 200 - 16) if mode == "compile" else (0, 3 * 200)
        assert (outcome.capture_samples, outcome.samples_seen - outcome.capture_samples) == paid
        assert (outcome.capture_seconds > 0) == (mode == "compile")
        steady = outcome.train_seconds - outcome.capture_seconds
        assert outcome.samples_per_s == pytest.approx(paid[1] / steady)
        assert all(row["samples_per_s"] > 0 for row in outcome.history)
    assert losses["compile"] == pytest.approx(losses["off"], rel=LOSS_RTOL)


def test_the_stage_reports_the_compile_apart_from_samples_per_second(
    tmp_path: Path, capsys
) -> None:
    assert main(ctx_for(tmp_path, "tabular-mlp", capture="compile", epochs=1)) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["capture"] == "capture compile" and metrics["capture_seconds"] > 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert re.search(r"took [\d,]+\.\d s, once; samples/s leaves it out", report)
    assert re.search(r"capture compile \(after \d+\.\d s of it\)", capsys.readouterr().err)


def _probe(t, candidates: tuple[str, ...]):
    return probe_capture(
        t.model, default_optimizer({}), default_loss(True), t.train, t.precision, 6, candidates
    )


def test_auto_measures_each_candidate_and_leaves_the_model_and_rng_as_they_were() -> None:
    """``capture: auto`` weighs eager steps against a CUDA graph on a GPU. The graph needs
    CUDA, so the probe runs here with eager against ``compile``, the other mode a CPU has: the
    same timing, throw-away copies and choice."""
    t = trainer(200, 1, valid=False)
    before = [p.detach().clone() for p in t.model.parameters()]
    rng = torch.get_rng_state()
    choice = _probe(t, ("off", "compile"))
    rates = {
        m: float(r.replace(",", ""))
        for m, r in re.findall(r"(\S+) ([\d,]+) samples/s", choice.reason)
    }
    assert choice.asked == "auto" and set(rates) == {"off", "compile"}
    assert choice.reason.startswith("measured off ") and all(r > 0 for r in rates.values())
    assert choice.mode == max(rates, key=rates.__getitem__)
    assert all(torch.equal(a, b) for a, b in zip(before, t.model.parameters(), strict=True))
    assert torch.equal(torch.get_rng_state(), rng)
    assert t.run().global_step == 13  # the model trains on from the weights it had


def test_a_candidate_that_fails_in_the_probe_is_left_out_with_its_reason() -> None:
    """Here the graph's warm-up fails for want of CUDA; on a GPU, a model a graph cannot hold
    (a host read in its forward) fails the same way, in the probe rather than the run."""
    t = trainer(200, 1, valid=False)
    choice = _probe(t, ("off", "cuda-graph"))
    assert choice.mode == "off"
    assert re.fullmatch(
        r"measured off [\d,]+ samples/s; cuda-graph failed \(\w+: .+\)", choice.reason
    )
    assert choice.note().startswith("capture auto -> off: measured off ")


def test_cuda_graph_off_the_gpu_falls_back_with_one_reason(tmp_path: Path, capsys) -> None:
    assert main(ctx_for(tmp_path, "tabular-mlp", capture="cuda-graph", epochs=1)) == 0
    err = capsys.readouterr().err
    reasons = [line for line in err.splitlines() if "capture cuda-graph -> off" in line]
    assert reasons == ["train: capture cuda-graph -> off: no CUDA device here"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["capture"] == "capture cuda-graph -> off: no CUDA device here"
    assert "peak_gpu_memory_mib" not in metrics  # reported on CUDA only
    assert "Steps: capture cuda-graph -> off" in (tmp_path / "out" / "report.md").read_text()


def test_what_a_graph_cannot_hold_is_named() -> None:
    cuda = torch.device("cuda")  # a device value only: nothing is allocated on it
    kw = {"amp": "off", "scheduler": False, "world_size": 1}
    assert choose_capture("cuda-graph", cuda, **kw).mode == "cuda-graph"
    assert choose_capture("auto", cuda, **kw).mode == "cuda-graph"
    assert (
        choose_capture("auto", CPU, **kw).note()
        == "capture auto -> off: no CUDA device, eager steps"
    )
    assert choose_capture("compile", CPU, **kw).note() == "capture compile"
    for change, why in (
        ({"amp": "fp16"}, "fp16's GradScaler reads the device every step"),
        ({"scheduler": True}, "a learning-rate scheduler would be frozen at its first rate"),
        ({"world_size": 2}, "DDP's gradient all-reduce is not captured here"),
    ):
        choice = choose_capture("cuda-graph", cuda, **{**kw, **change})
        assert choice.mode == "off" and choice.reason.startswith(why)
    sgd = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    assert make_capturable(sgd) == "SGD has no capturable option"
    adamw = torch.optim.AdamW([torch.nn.Parameter(torch.ones(1))])
    assert make_capturable(adamw) == "" and adamw.param_groups[0]["capturable"] is True


def test_an_unknown_capture_mode_is_a_clear_error(tmp_path: Path) -> None:
    from lockgate.errors import LockgateError

    with pytest.raises(LockgateError, match=r"with\.capture: Input should be 'auto', 'cuda-graph'"):
        main(ctx_for(tmp_path, "tabular-mlp", capture="graphs"))
