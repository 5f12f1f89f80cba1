"""Tuners against theory: Tang & Zhang's lower bound on their hard instance, and the speed-up
successive halving earns where early returns predict final ones.

Both drive the suite's own tuner policies (`tuners.start` / `tuners.decide`, exactly what the
runner calls between segments) with the returns a member would have at each decision point.

Hard instance (Tang & Zhang 2026; envs/hard_instance.py, oracle 13): M one-step bandits, MDP i
pays 1 for action i; the configurations are the M delayed agents, agent theta plays 0 for its
first L = ceil(2T/M) episodes and theta after. A tuner with T episodes in all (its charge) trains
at most T/L <= M/2 agents fully, so it deploys agent i -- its only way to succeed -- with
probability <= 1/2 over i uniform, however it allocates. Successive halving and Hyperband see
only zeros until an agent passes L, so their ties go to the lowest member index; configurations
are drawn in a random order per repetition, so that is a random agent.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tuner_fixtures import Dim

from jaxrl_suite import tuners
from jaxrl_suite.envs.hard_instance import HardInstanceBandit
from jaxrl_suite.evaluation.hard_instance import delay_episodes, delayed_agent_action


def run_tuner(settings, repetition, score_of):
    """The tuner's decisions with `score_of(configuration, env_steps)` as every member's
    (single tuning seed) score; returns (its selected configuration, its final state)."""
    configurations = tuners.configurations(settings, repetition)
    state, actions = tuners.start(settings, repetition)
    while not actions.finished:
        point = actions.next_env_steps
        scores = np.full((len(configurations), 1), np.nan)
        for member in actions.active:
            scores[member, 0] = score_of(configurations[member], point)
        state, actions = tuners.decide(settings, state, point, scores)
    return configurations[state.best], state


def bandit_reward(env, agent, episodes, delay, mdp):
    """The reward agent `agent` earns on MDP `mdp` after `episodes` episodes of training: one
    evaluation episode of the real environment (noise-free: generous to the tuner)."""
    params = env.default_params.replace(optimal_action=jnp.asarray(mdp, jnp.int32))
    _, state = env.reset(jax.random.key(0), params)
    action = delayed_agent_action(jnp.asarray(agent), jnp.asarray(episodes), delay)
    return float(env.step(jax.random.key(0), state, action, params)[2])


HARD = [
    # successive halving: 27 agents, eta 3, rungs 27 x 1, 9 x 3, 3 x 9, 1 x 27 episodes: T = 81, L = 6;
    # only the 3 members of the third rung pass L
    ("successive halving", lambda space: tuners.SuccessiveHalvingSettings(27, 3, 1, 27, space, repetitions=8), 27, 3),
    # a gentler one: 16 agents, eta 2, 16 x 1, 8 x 2, 4 x 4, 2 x 8, 1 x 16: T = 48, L = 6; the 2 members of 8 pass
    ("successive halving eta 2", lambda space: tuners.SuccessiveHalvingSettings(16, 2, 1, 16, space, repetitions=8),
     16, 2),
    # Hyperband, R = 27, eta = 3 (49 members over 4 brackets): T = 357, L = 15; the 8 members of 27 episodes pass
    ("hyperband", lambda space: tuners.HyperbandSettings(3, 1, 27, space, repetitions=8), 49, 8),
]


@pytest.mark.parametrize("name, make, agents, fully_trained", HARD, ids=[h[0] for h in HARD])
def test_adaptive_tuners_succeed_with_probability_at_most_one_half_on_the_hard_instance(name, make, agents,
                                                                                        fully_trained):
    space = (Dim("agent", "values", values=tuple(range(1, agents + 1))),)
    settings = make(space)
    budget = tuners.plan(settings).charge(tuning_seeds=1)  # T: every episode the tuner spends
    delay = delay_episodes(budget, agents)
    env = HardInstanceBandit(agents)
    rewards = {}  # (agent, episodes, mdp) -> reward; the policies ask for few distinct points

    successes = []
    for repetition in range(settings.repetitions):
        for mdp in range(1, agents + 1):
            def score(configuration, episodes, mdp=mdp):
                key = (int(configuration["agent"]), episodes, mdp)
                if key not in rewards:
                    rewards[key] = bandit_reward(env, *key[:2], delay, mdp)
                return rewards[key]

            chosen, state = run_tuner(settings, repetition, score)
            assert state.charged_env_steps == budget
            # Deployed after the full budget of its bracket (max_env_steps episodes): does it play i?
            successes.append(bandit_reward(env, int(chosen["agent"]), settings.max_env_steps, delay, mdp) == 1.0)
    probability = np.mean(successes)
    assert probability <= 0.5  # Tang & Zhang's bound
    # Exactly the agents the plan trains past L can succeed, one per MDP among them.
    assert probability == pytest.approx(fully_trained / agents)
    # ... while a learner told i needs only L <= T episodes: the failure is the cost of tuning.
    assert delay <= budget


def test_successive_halving_finds_the_best_of_81_with_a_fraction_of_the_grids_env_steps():
    # A probe family where early returns predict final ones: configuration q in (0, 1] learns
    # towards q at a rate that does not depend on q, G(q, t) = q (1 - exp(-t / 2000)), plus
    # tuning-seed noise of 1% of the gap between neighbouring configurations.
    qualities = tuple(float(q) for q in np.random.default_rng(3).permutation(np.linspace(0.01, 1.0, 81)))
    space = (Dim("q", "values", values=qualities),)
    total = 81 * 1000  # T env steps per run
    rng = np.random.default_rng(0)
    curve = lambda c, t: c["q"] * (1 - np.exp(-t / 2000)) + rng.normal(0, 0.01 * (0.99 / 80))

    halving = tuners.SuccessiveHalvingSettings(81, 3, total // 81, total, space, repetitions=5)
    grid = tuners.GridSettings(total, space)
    grid_charge = tuners.plan(grid).charge(tuning_seeds=1)
    assert grid_charge == 81 * total
    for repetition in range(halving.repetitions):
        chosen, state = run_tuner(halving, repetition, curve)
        assert chosen["q"] == max(qualities)  # the grid's choice, found by halving
        assert state.charged_env_steps == tuners.plan(halving).charge(tuning_seeds=1)
    # 81 x T/81 + 27 x 2T/81 + 9 x 2T/27 + 3 x 2T/9 + 1 x 2T/3 = 11T/3: 4.5% of the grid's 81 T.
    assert tuners.plan(halving).charge(tuning_seeds=1) * 3 == 11 * total
    assert tuners.plan(halving).charge(tuning_seeds=1) / grid_charge < 0.05
