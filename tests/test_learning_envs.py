"""Learning checks on the new families at CPU scale: PPO beats the random policy.

Each test is one compiled program: the untrained policy's evaluation return (its logits start
near uniform, so it is the random policy, masked where the env has masks), training, and the
trained policy's return, on the same evaluation settings. About 20-30 s each on 2 cores, most of
it compiling. Craftax-Classic is not here: its PPO program alone compiles for minutes on 2 cores
(its world generator takes ~45 s), beyond a CI-sized test.
"""

import jax
import pytest

from jaxrl_suite.algos import ppo
from jaxrl_suite.envs import make
from jaxrl_suite.runner import EvalSettings, evaluate

STATIC = dict(num_envs=16, num_steps=32, num_minibatches=4, update_epochs=4, hidden_sizes=(64, 64))


def random_then_trained_return(env_id, total_env_steps, lr, eval_episodes, eval_max_steps):
    env = make(env_id)
    params = env.default_params
    static = ppo.Static(total_env_steps=total_env_steps, **STATIC)
    hp = ppo.HParams(lr=lr)
    iterations = total_env_steps // ppo.PPO.steps_per_iteration(static)
    settings = EvalSettings(episodes=eval_episodes, deterministic=False, max_steps=eval_max_steps)

    def run(key):
        state = ppo.init(key, hp, static, env, params)
        before = evaluate(ppo.PPO, state, key, static, env, params, settings)
        state, _ = jax.lax.scan(lambda s, _: ppo.update(s, hp, static, env, params), state, None, iterations)
        after = evaluate(ppo.PPO, state, jax.random.fold_in(key, 1), static, env, params, settings)
        return before, after

    before, after = jax.jit(run)(jax.random.key(0))
    return float(before), float(after)


@pytest.mark.slow
def test_ppo_learns_minigrid_doorkey():
    # reward 1 - 0.9 t / max_steps on opening the door and reaching the goal, else 0
    before, after = random_then_trained_return("xminigrid/MiniGrid-DoorKey-5x5", 196_608, 1e-3, 64, 250)
    assert before < 0.2 and after > 0.5, (before, after)  # measured: 0.02 -> 0.96


@pytest.mark.slow
def test_ppo_learns_jumanji_snake_with_its_action_mask():
    # +1 per fruit; the masked random policy already wanders long and eats ~1.5 per episode
    before, after = random_then_trained_return("jumanji/Snake-v1", 131_072, 2.5e-4, 256, 500)
    assert after > before + 0.2, (before, after)  # measured over keys 0-2: +0.6, +0.4, +1.0
