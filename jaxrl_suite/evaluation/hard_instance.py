"""Simulating the cost of tuning on Tang & Zhang's hard instance.

Source: Tang & Zhang, "The Statistical Cost of Hyperparameter Tuning in Reinforcement Learning"
(2026), the lower-bound construction; oracle 13 of the suite's metric oracles.

Setting. The family of M one-state bandit MDPs of `jaxrl_suite.envs.hard_instance` (actions
{0..M}, MDP i pays 1{a = i}), with i drawn uniformly from {1..M}. The configurations to tune are M
"delayed" agents: agent θ ∈ {1..M} plays action 0 for its first L = ⌈2T/M⌉ episodes, then θ
forever. A tuner has T episodes in all; it splits them into an allocation n = (n_1..n_M), Σ n_θ ≤ T,
trains each agent θ for n_θ episodes, and deploys one agent θ̂. It succeeds when the deployed
agent plays i, i.e. θ̂ = i and n_i ≥ L ("agent i trained fully").

Facts the simulation shows (and tests assert):

(a) Any allocation trains at most ⌊M/2⌋ agents fully: each needs L ≥ 2T/M of the T episodes,
    so #{θ : n_θ ≥ L} ≤ T/L ≤ M/2. Success needs i among them, so for uniformly drawn i the
    success probability is at most ⌊M/2⌋/M ≤ 1/2, whatever the selection rule and even if the
    allocation adapts to what it has seen (the count bounds every realised allocation). Giving L
    episodes to each of ⌊T/L⌋ agents attains min(⌊T/L⌋, M)/M, which is ⌊M/2⌋/M when M | T.
(b) Naive equal-split tuning, T/M episodes each (⌊T/M⌋ when M ∤ T), trains nobody:
    ⌊T/M⌋ ≤ T/M < 2T/M ≤ L for every T ≥ 1, so its success probability is exactly 0 — for every
    M ≥ 1, in particular for M ≥ 3. Yet for M ≥ 2 a learner told i would succeed, since the one
    agent it needs takes L ≤ T episodes: the failure is the cost of tuning, not of learning.

The simulated tuner is deliberately generous: it selects θ̂ by a free, noise-free evaluation
episode of every agent after training, so any realistic tuner does no better. Everything runs in
one jitted program vmapped over allocations, MDP index i and agents.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import sys
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs.hard_instance import HardInstanceBandit

#: exhaustive enumeration beyond this many allocations is refused (memory and time)
MAX_ENUMERATED_ALLOCATIONS = 2_000_000


def delay_episodes(total_episodes: int, num_mdps: int) -> int:
    """L = ⌈2T/M⌉, the episodes a delayed agent plays action 0 before its own action."""
    if total_episodes < 1 or num_mdps < 1:
        raise ValueError(
            f"need total_episodes ≥ 1 and num_mdps ≥ 1, got T={total_episodes}, M={num_mdps}"
        )
    return -(-2 * total_episodes // num_mdps)


def max_fully_trained_agents(total_episodes: int, num_mdps: int) -> int:
    """The most agents any allocation of T episodes trains fully: min(M, ⌊T/L⌋) ≤ ⌊M/2⌋."""
    return min(num_mdps, total_episodes // delay_episodes(total_episodes, num_mdps))


def delayed_agent_action(agent: jax.Array, episodes_trained: jax.Array, delay: int) -> jax.Array:
    """The action of delayed agent θ = `agent` after `episodes_trained` episodes: 0 while fewer
    than `delay` episodes are done, θ afterwards."""
    return jnp.where(episodes_trained < delay, 0, agent).astype(jnp.int32)


def equal_split_allocation(total_episodes: int, num_mdps: int) -> np.ndarray:
    """⌊T/M⌋ episodes to every agent (the naive split; a remainder of T mod M stays unspent)."""
    return np.full(num_mdps, total_episodes // num_mdps, dtype=np.int32)


def best_allocation(total_episodes: int, num_mdps: int) -> np.ndarray:
    """L episodes to each of the first min(M, ⌊T/L⌋) agents, the remainder to the next one: the
    allocation that trains the most agents fully, attaining the bound of fact (a)."""
    delay = delay_episodes(total_episodes, num_mdps)
    allocation = np.zeros(num_mdps, dtype=np.int32)
    trained = max_fully_trained_agents(total_episodes, num_mdps)
    allocation[:trained] = delay
    remainder = total_episodes - trained * delay
    if trained < num_mdps:
        allocation[trained] = remainder
    return allocation


def all_allocations(total_episodes: int, num_mdps: int) -> np.ndarray:
    """Every allocation spending exactly T episodes over M agents (weak compositions), shape
    (C(T+M−1, M−1), M). Spending less never trains more agents, so these cover all allocations."""
    count = math.comb(total_episodes + num_mdps - 1, num_mdps - 1)
    if count > MAX_ENUMERATED_ALLOCATIONS:
        raise ValueError(
            f"{count} allocations of T={total_episodes} over M={num_mdps} agents is too many to "
            f"enumerate (limit {MAX_ENUMERATED_ALLOCATIONS}); use random_allocations"
        )
    rows = []
    # Stars and bars: choose M−1 bar positions among T+M−1 slots.
    for bars in itertools.combinations(range(total_episodes + num_mdps - 1), num_mdps - 1):
        edges = (-1, *bars, total_episodes + num_mdps - 1)
        rows.append([edges[j + 1] - edges[j] - 1 for j in range(num_mdps)])
    return np.asarray(rows, dtype=np.int32)


def random_allocations(seed: int, total_episodes: int, num_mdps: int, count: int) -> np.ndarray:
    """`count` random allocations spending exactly T episodes: shares drawn from a flat Dirichlet,
    episodes then assigned from those shares (Dirichlet-multinomial), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.ones(num_mdps), size=count)
    return np.stack([rng.multinomial(total_episodes, p) for p in shares]).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class TuningOutcome:
    """Results of `simulate_tuning`; A allocations, M MDPs (axis 1, i = 1..M), M agents.

    fully_trained[a, θ−1]: allocation a gives agent θ at least L episodes.
    training_return[a, i−1, θ−1]: reward agent θ collected during its training on MDP i.
    selected[a, i−1]: the agent θ̂ deployed; success[a, i−1]: it plays i.
    """

    total_episodes: int
    delay: int
    allocations: np.ndarray
    fully_trained: np.ndarray
    training_return: np.ndarray
    selected: np.ndarray
    success: np.ndarray

    @property
    def success_probability(self) -> np.ndarray:
        """Per allocation, the success probability for i drawn uniformly from {1..M}."""
        return self.success.mean(axis=1)


def _validated_allocations(allocations, total_episodes: int, num_mdps: int) -> np.ndarray:
    allocations = np.atleast_2d(np.asarray(allocations))
    if allocations.ndim != 2 or allocations.shape[1] != num_mdps:
        raise ValueError(
            f"allocations must have shape (count, M={num_mdps}), got {allocations.shape}"
        )
    if not np.issubdtype(allocations.dtype, np.integer) or (allocations < 0).any():
        raise ValueError("allocations must be non-negative integer episode counts")
    over = np.flatnonzero(allocations.sum(axis=1) > total_episodes)
    if over.size:
        raise ValueError(
            f"allocation rows {over[:5].tolist()} spend more than the T={total_episodes} episodes"
        )
    return allocations.astype(np.int32)


def simulate_tuning(env: HardInstanceBandit, allocations, total_episodes: int) -> TuningOutcome:
    """Train the M delayed agents on every MDP of `env`'s family under every allocation, select by
    a free evaluation episode, and record who succeeds. One jitted program, vmapped over
    allocations × MDP index × agents; each agent's training is a `lax.scan` over T episodes."""
    num_mdps = env.num_mdps
    allocations = _validated_allocations(allocations, total_episodes, num_mdps)
    delay = delay_episodes(total_episodes, num_mdps)
    training_return, eval_reward = _simulate(env, total_episodes, delay)(
        jnp.asarray(allocations), env.family_params()
    )
    training_return = np.asarray(training_return)
    eval_reward = np.asarray(eval_reward)
    # Lowest agent on ties; only agent i can score 1, so ties never hide a success.
    selected = eval_reward.argmax(axis=2) + 1
    success = np.take_along_axis(eval_reward, selected[..., None] - 1, axis=2)[..., 0] == 1.0
    return TuningOutcome(
        total_episodes=total_episodes,
        delay=delay,
        allocations=allocations,
        fully_trained=allocations >= delay,
        training_return=training_return,
        selected=selected,
        success=success,
    )


# One compiled program per (family, T): repeated simulations reuse it instead of re-tracing.
@functools.lru_cache(maxsize=64)
def _simulate(env: HardInstanceBandit, total_episodes: int, delay: int):
    agents = jnp.arange(1, env.num_mdps + 1, dtype=jnp.int32)
    # The family is deterministic; the key only satisfies the environment contract.
    key = jax.random.key(0)

    def train_and_evaluate(agent, episodes, params):
        _, state = env.reset(key, params)

        def one_episode(carry, episode):
            state, collected = carry
            action = delayed_agent_action(agent, episode, delay)
            _, next_state, reward, _, _, _ = env.step(key, state, action, params)
            active = episode < episodes
            state = jax.tree.map(lambda new, old: jnp.where(active, new, old), next_state, state)
            return (state, collected + jnp.where(active, reward, 0.0)), None

        (state, collected), _ = jax.lax.scan(
            one_episode, (state, jnp.float32(0.0)), jnp.arange(total_episodes)
        )
        deployed_action = delayed_agent_action(agent, episodes, delay)
        _, _, eval_reward, _, _, _ = env.step(key, state, deployed_action, params)
        return collected, eval_reward

    over_agents = jax.vmap(train_and_evaluate, in_axes=(0, 0, None))
    over_mdps = jax.vmap(over_agents, in_axes=(None, None, 0))
    over_allocations = jax.vmap(over_mdps, in_axes=(None, 0, None))
    return jax.jit(lambda allocations, params: over_allocations(agents, allocations, params))


@dataclasses.dataclass(frozen=True)
class SuccessCurves:
    """Simulated success probability (i uniform) against M, with T = episodes_per_mdp · M."""

    num_mdps: np.ndarray
    episodes_per_mdp: int
    equal_split: np.ndarray
    best_allocation: np.ndarray
    informed_learner: np.ndarray

    @property
    def analytic_bound(self) -> np.ndarray:
        """⌊M/2⌋/M, the most any allocation can reach (fact (a))."""
        return (self.num_mdps // 2) / self.num_mdps


def success_curves(num_mdps_values: Sequence[int], episodes_per_mdp: int = 10) -> SuccessCurves:
    """Simulate, for each M, equal-split tuning, the best allocation, and a learner told i that
    spends all T = episodes_per_mdp · M episodes on agent i."""
    equal, best, informed = [], [], []
    for num_mdps in num_mdps_values:
        env = HardInstanceBandit(num_mdps)
        total = episodes_per_mdp * num_mdps
        allocations = np.vstack([
            equal_split_allocation(total, num_mdps),
            best_allocation(total, num_mdps),
            total * np.eye(num_mdps, dtype=np.int32),  # row j: everything on agent j + 1
        ])
        outcome = simulate_tuning(env, allocations, total)
        equal.append(outcome.success_probability[0])
        best.append(outcome.success_probability[1])
        # The informed learner on MDP i uses row 2 + (i − 1): the diagonal of the last block.
        informed.append(np.mean(np.diagonal(outcome.success[2:])))
    return SuccessCurves(
        num_mdps=np.asarray(num_mdps_values),
        episodes_per_mdp=episodes_per_mdp,
        equal_split=np.asarray(equal),
        best_allocation=np.asarray(best),
        informed_learner=np.asarray(informed),
    )


def plot_success_curves(curves: SuccessCurves):
    """Success probability against M: best allocation, equal split, the ⌊M/2⌋/M and 1/2 bounds,
    and the learner told i. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5), layout="constrained")
    m = curves.num_mdps
    ax.axhline(0.5, color="black", linestyle="--", linewidth=1, label="bound 1/2")
    ax.plot(m, curves.informed_learner, color="tab:green", marker="^", linestyle=":",
            label="learner told i (all T episodes on agent i)")
    ax.plot(m, curves.analytic_bound, color="grey", marker="_", markersize=14, linestyle="none",
            label="⌊M/2⌋/M: most agents any allocation trains, / M")
    ax.plot(m, curves.best_allocation, color="tab:blue", marker="o",
            label="best allocation (L episodes to ⌊T/L⌋ agents), simulated")
    ax.plot(m, curves.equal_split, color="tab:red", marker="s",
            label="equal split (T/M episodes each), simulated")
    ax.set_xlabel("number of MDPs / candidate configurations, M")
    ax.set_ylabel("success probability (i uniform on 1..M)")
    ax.set_ylim(-0.05, 1.1)
    ax.set_xticks(m)
    ax.set_title(
        "Tang & Zhang hard instance: tuning M delayed agents with a budget of\n"
        f"T = {curves.episodes_per_mdp}·M episodes; an agent needs L = ⌈2T/M⌉ episodes to play its "
        "own action"
    )
    ax.grid(alpha=0.3)
    # Outside the axes: the curves span the whole height.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    """python -m jaxrl_suite.evaluation.hard_instance [OUTPUT.png]: simulate M = 2..20 with
    T = 10·M, print the success probabilities and save the figure (by default to
    results/hard_instance.png)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    output = argv[0] if argv else "results/hard_instance.png"
    curves = success_curves(range(2, 21), episodes_per_mdp=10)
    print("| M | equal split | best allocation | ⌊M/2⌋/M | learner told i |")
    print("|---|---|---|---|---|")
    for row in zip(curves.num_mdps, curves.equal_split, curves.best_allocation,
                   curves.analytic_bound, curves.informed_learner):
        print("| {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |".format(*row))
    plot_success_curves(curves).savefig(output, dpi=150)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
