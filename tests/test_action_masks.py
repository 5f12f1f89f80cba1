"""PPO reads an environment's action mask: an illegal action is never taken, in training or evaluation.

The env is the action-reward probe (+1 for action 1, -1 for action 0) with action 1 made illegal:
a policy that ignores the mask takes it (and learns to prefer it), one that reads the mask never can.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.algos import common, ppo
from jaxrl_suite.envs import VecEnv
from jaxrl_suite.envs.probes import ActionReward
from jaxrl_suite.runner import EvalSettings, evaluate

STATIC = ppo.Static(
    total_env_steps=1024, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2, hidden_sizes=(8,)
)


class JackpotIsIllegal(ActionReward):
    """The probe whose rewarding action, 1, is never legal."""

    has_action_mask = True

    def action_mask(self, state, params):
        return jnp.array([True, False])


def test_ppo_never_takes_a_masked_action():
    env = JackpotIsIllegal()
    params = env.default_params
    hp = ppo.HParams(lr=0.05, ent_coef=0.0)

    def train_and_act(key):
        state = ppo.init(key, hp, STATIC, env, params)
        net = common.actor_critic(env, STATIC)
        _, traj = common.collect_actor_critic(state, net, STATIC, env, params, hp.gamma)
        for _ in range(4):  # enough updates for an unmasked policy to prefer the jackpot
            state, metrics = ppo.update(state, hp, STATIC, env, params)
        # evaluation samples too (not only the argmax), over many envs: one illegal pick would show
        obs, env_state = VecEnv(env, 256).reset(key, params)
        mask = VecEnv(env, 256).action_mask(env_state, params)
        sampled = ppo.PPO.act(state, obs, key, STATIC, env, params, False, action_mask=mask)
        unmasked_probs = jax.nn.softmax(net.apply(state.params, obs, method=net.policy))
        # the runner's evaluation hands the mask to the policy: only the -1 action, so a mean of -1
        settings = EvalSettings(episodes=64, deterministic=False, max_steps=4)
        eval_return = evaluate(ppo.PPO, state, key, STATIC, env, params, settings)
        return traj, metrics, sampled, unmasked_probs, eval_return

    traj, metrics, sampled, unmasked_probs, eval_return = jax.jit(train_and_act)(jax.random.key(0))
    assert np.all(np.asarray(traj.action) == 0), "a masked action was sampled in training"
    np.testing.assert_allclose(np.asarray(traj.extras.log_prob), 0.0, atol=1e-6)  # the one legal action is certain
    assert np.asarray(traj.action_mask).shape == (STATIC.num_steps, STATIC.num_envs, 2)
    assert all(np.isfinite(np.asarray(value)).all() for value in jax.tree.leaves(metrics))
    assert np.all(np.asarray(sampled) == 0), "a masked action was chosen in evaluation"
    assert float(eval_return) == -1.0, "the runner's evaluation played a masked action"
    # the network alone gives the jackpot a real chance: the mask, not luck, kept it out
    assert np.all(np.asarray(unmasked_probs)[:, 1] > 0.05)
