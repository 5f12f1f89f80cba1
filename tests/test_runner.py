"""The runner: one compiled program per sweep, run independence, chunking, divergence."""


import jax
import numpy as np
import pytest

from jaxrl_suite.algos.base import EpisodeTracker
from jaxrl_suite.runner import programs, run_group, segment_iterations
from jaxrl_suite.spec import parse_spec
from jaxrl_suite.study import plan

EVAL = {"every_env_steps": 2_048, "episodes": 4, "max_steps": 200}


def cartpole_spec(lrs, seeds, steps=8_192, hparams=None, hidden=(32, 32)):
    return parse_spec({
        "name": "t", "envs": ["gymnax/CartPole-v1"], "total_env_steps": steps,
        "tuning_seeds": list(range(seeds)), "test_seeds": [], "evaluation": EVAL,
        "algorithms": [{
            "algorithm": "ppo", "preset": "cleanrl",
            "static": {"num_envs": 4, "num_steps": 64, "hidden_sizes": list(hidden)},
            "hparams": hparams or {},
            "search": {"method": "grid", "space": {"lr": lrs}},
        }],
    })


def run(spec, **kwargs):
    (group,), _ = plan(spec)
    return group, run_group(group, spec.evaluation, **kwargs)


def test_sweep_of_8_learning_rates_by_4_seeds_compiles_one_program():
    lrs = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    spec = cartpole_spec(lrs, seeds=4)
    group, result = run(spec)
    assert len(group.runs) == 32
    init, advance = programs(group.algorithm, group.env, group.static, spec.evaluation,
                             segment_iterations(group.algorithm, group.static, spec.evaluation))
    assert advance._cache_size() == 1  # the whole sweep, every segment: one training program
    assert init._cache_size() == 1
    # The learning rate is data, and it matters: mean final return per lr differs widely.
    final = result.metrics["train_return"][:, -1].reshape(8, 4).mean(axis=1)
    assert final.max() - final.min() > 30.0
    assert final[0] < final[4]  # 1e-5 barely moves in 8k steps; 1e-3 learns


BATCH_LRS = [1e-4, 3e-4, 1e-3, 3e-3]


@pytest.fixture(scope="module")
def batch_of_16():
    """4 learning rates x 4 seeds, all in one batch."""
    return run(cartpole_spec(BATCH_LRS, seeds=4))[1]


def test_a_run_alone_equals_the_same_run_inside_a_batch_of_16(batch_of_16):
    # Chunks of one: every run executes alone, then the results are laid side by side.
    _, alone = run(cartpole_spec(BATCH_LRS, seeds=4), max_runs_per_chunk=1)
    for name in ("train_return", "eval_return", "episodes", "loss"):
        np.testing.assert_allclose(alone.metrics[name], batch_of_16.metrics[name], rtol=1e-5, atol=1e-5)


def test_padded_chunks_do_not_change_results(batch_of_16):
    _, chunked = run(cartpole_spec(BATCH_LRS, seeds=4), max_runs_per_chunk=5)  # 5+5+5+1 (+4 padding)
    for name in ("train_return", "eval_return", "episodes", "loss"):
        np.testing.assert_allclose(chunked.metrics[name], batch_of_16.metrics[name], rtol=1e-5, atol=1e-5)


def test_a_run_gives_the_same_numbers_in_groups_of_different_sizes():
    # Before every device ran fixed blocks of runs, a 64x64 network rounded differently in
    # groups of 12 and 16 runs (XLA chooses dot kernels by size).
    _, sixteen = run(cartpole_spec(BATCH_LRS, seeds=4, hidden=(64, 64)))
    _, twelve = run(cartpole_spec(BATCH_LRS[:3], seeds=4, hidden=(64, 64)))
    for name in ("train_return", "eval_return", "episodes", "loss"):
        np.testing.assert_array_equal(twelve.metrics[name], sixteen.metrics[name][:12])


class StateRecorder:
    """runner.Checkpoints that keeps a host copy of each chunk's algorithm state after every
    segment (a copy: the program donates the carry to the next segment)."""

    every = 1

    def __init__(self):
        self.states: dict[int, list] = {}

    def save(self, progress):
        if progress.carry is not None:  # None once a chunk is finished
            self.states.setdefault(progress.chunk, []).append(jax.device_get(progress.carry.state))

    def save_final(self, chunk, carry):
        self.states.setdefault(chunk, []).append(jax.device_get(carry.state))


def test_absurd_learning_rate_is_flagged_and_frozen_and_other_runs_are_unaffected(batch_of_16):
    # lr 1e30 overflows the parameters within a few updates: non-finite loss -> frozen and flagged.
    recorder = StateRecorder()
    _, with_absurd = run(cartpole_spec(BATCH_LRS + [1e30], seeds=4), checkpoints=recorder)
    assert with_absurd.metrics["diverged"][16:, 0].all()  # from the first segment on
    assert not with_absurd.metrics["diverged"][:16].any()
    for name in ("train_return", "eval_return", "episodes"):
        np.testing.assert_allclose(with_absurd.metrics[name][:16], batch_of_16.metrics[name], rtol=1e-5, atol=1e-5)
    # Frozen at the last finite state: chunk 1 holds the four lr = 1e30 runs (then padding), and
    # their whole state (parameters, optimiser, environments) stays as it was after segment 1.
    frozen = [jax.tree.leaves(state) for state in recorder.states[1]]
    assert len(frozen) == 4  # after each segment
    for later in frozen[1:]:
        for first, now in zip(frozen[0], later, strict=True):
            np.testing.assert_array_equal(now[:4], first[:4])
    assert all(np.isfinite(leaf[:4]).all() for leaf in frozen[-1] if np.issubdtype(leaf.dtype, np.floating))
    healthy = [jax.tree.leaves(state) for state in recorder.states[0]]  # the same record of learning runs moves
    assert any(not np.array_equal(a, b) for a, b in zip(healthy[0], healthy[-1], strict=True))


def test_budget_is_rounded_down_to_whole_iterations_and_segments_cover_it():
    from jaxrl_suite.runner import Schedule

    spec = cartpole_spec([1e-3], seeds=1, steps=5_000)  # 256 steps per iteration -> 19 iterations
    (group,), _ = plan(spec)
    steps = Schedule.of(group, spec.evaluation).env_steps()
    assert steps[-1] == 19 * 256 and np.all(np.diff(steps) > 0)
    assert steps[0] == segment_iterations(group.algorithm, group.static, spec.evaluation) * 256


def test_episode_tracker_matches_a_plain_reference():
    rng = np.random.default_rng(0)
    tracker = EpisodeTracker.create(window=5)
    finished: list[float] = []
    for _ in range(6):
        done = rng.random((7, 3)) < 0.4
        returns = rng.normal(size=(7, 3)).astype(np.float32)
        tracker = tracker.record(done, returns)
        finished += list(returns[done])  # time-major order, as recorded
        assert int(tracker.count) == len(finished)
        assert float(tracker.mean()) == pytest.approx(np.mean(finished[-5:]), rel=1e-5)
    assert np.isnan(float(EpisodeTracker.create().mean()))


# --- the default block on an accelerator (forced here on CPU) -------------------------------------

LRS_40 = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]  # x 8 seeds = 40 runs


def test_the_accelerator_policy_fills_the_device_and_shrinks_to_what_fits(monkeypatch):
    from jaxrl_suite import runner

    monkeypatch.setattr(runner, "block_policy", lambda: "accelerator")
    spec = cartpole_spec(LRS_40, seeds=8, steps=4_096)
    (group,), _ = plan(spec)
    # Memory to spare: all 40 runs in one block on the one device (on CPU the default is 16),
    # checked against XLA's memory analysis of the real 40-run program.
    roomy = runner.choose_layout(group, spec.evaluation, memory_budget=2**40)
    assert (roomy.padded, roomy.count, roomy.runs_per_chunk) == (40, 1, 40)
    # A tight budget: the block shrinks by a quarter until the analysis fits. The analysis is
    # stood in for by fixed buffers + a per-run share (a compile per size tried is what it costs).
    sizes = []
    monkeypatch.setattr(runner, "program_bytes_per_device",
                        lambda g, e, block: sizes.append(block) or 1_000 + 100 * block)
    tight = runner.choose_layout(group, spec.evaluation, memory_budget=2_500)
    # 16 runs measure 2,600 bytes: 162.5 a run, so 15 fit by that share; 15 needs 2,500: it fits.
    assert sizes == [16, 15] and (tight.padded, tight.count) == (15, 3)
    sizes.clear()
    assert runner.choose_layout(group, spec.evaluation, memory_budget=1_900).padded == 8  # 11 -> 8
    assert sizes == [16, 11, 8]
    monkeypatch.setattr(runner, "block_policy", lambda: "cpu")
    assert runner.choose_layout(group, spec.evaluation, memory_budget=2**40).padded == runner.RUNS_PER_DEVICE


def test_a_fixed_block_gives_bit_identical_numbers_across_chunkings():
    spec = cartpole_spec(LRS_40, seeds=8, steps=4_096)
    (group,), _ = plan(spec)
    whole = run_group(group, spec.evaluation, runs_per_device=40)
    chunked = run_group(group, spec.evaluation, runs_per_device=40, max_runs_per_chunk=13)
    assert (whole.layout.count, chunked.layout.count, chunked.layout.padded) == (1, 4, 40)
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(values, chunked.metrics[name], err_msg=name)
