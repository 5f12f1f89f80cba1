"""PPO's relatives: Tang & Zhang's four advantage estimators, DPO and SPO.

Each objective and estimator is checked against its formula on hand-made numbers; the critics
fit discounted values; the advantage-normalised variant runs on Brax. (That each learns its probe
in one compiled program is checked with every algorithm's in test_algorithm_contract.py.)
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.algos import common, dpo, spo
from jaxrl_suite.algos import ppo_variants as V
from jaxrl_suite.algos.ppo_variants import PPO_ADVN, PPO_GAE
from jaxrl_suite.envs import make
from jaxrl_suite.runner import train

SHAPE = dict(total_env_steps=8_192, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=4, hidden_sizes=(16,))


def transition(**fields):
    """A hand-made [time, envs] rollout; unnamed fields (log_prob and value included) are zeros of
    the reward's shape; no action mask."""
    reward = jnp.asarray(fields["reward"], jnp.float32)
    zeros = jnp.zeros_like(reward)
    get = lambda name: jnp.asarray(fields.get(name, zeros), jnp.float32)
    names = [name for name in common.Rollout._fields if name not in ("extras", "action_mask")]
    return common.Rollout(**{name: get(name) for name in names},
                          extras=common.ActorCriticStep(log_prob=get("log_prob"), value=get("value")))


# --- objectives and estimators against their formulas ---------------------------------------


def test_dpo_objective_is_ratio_times_advantage_minus_the_discovered_drift():
    hp = dpo.HParams()  # alpha 2, beta 0.6
    ratio = jnp.array([1.5, 0.5, 0.5, 2.0, 1.0])
    adv = jnp.array([2.0, 2.0, -1.0, -1.0, 3.0])
    # A >= 0: ReLU((r-1)A - 2 tanh((r-1)A / 2)); A < 0: ReLU(log(r)A - 0.6 tanh(log(r)A / 0.6))
    expected_drift = [
        1.0 - 2.0 * np.tanh(0.5),  # (r-1)A = 1: 0.0757657
        0.0,  # (r-1)A = -1: moving against A costs nothing
        np.log(2.0) - 0.6 * np.tanh(np.log(2.0) / 0.6),  # log(r)A = log 2: 0.1996
        0.0,  # log(r)A = -log 2
        0.0,  # r = 1
    ]
    np.testing.assert_allclose(dpo.drift(jnp.log(ratio), adv, hp), expected_drift, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        dpo.objective(jnp.log(ratio), adv, hp), np.asarray(ratio * adv) - expected_drift, rtol=1e-5
    )
    # A Mirror Learning drift is flat at the old policy: zero slope in r at r = 1.
    slope = jax.grad(lambda log_r: dpo.drift(log_r, jnp.float32(2.0), hp))(jnp.float32(0.0))
    assert float(slope) == 0.0


def test_spo_objective_is_ratio_times_advantage_minus_the_quadratic_penalty():
    hp = spo.HParams(clip_eps=0.2)
    ratio = jnp.array([1.3, 0.9, 1.0])
    adv = jnp.array([2.0, -1.0, 5.0])
    expected = [2.6 - 2.0 / 0.4 * 0.09, -0.9 - 1.0 / 0.4 * 0.01, 5.0]  # r A - |A|/(2 eps) (r-1)^2
    np.testing.assert_allclose(spo.objective(jnp.log(ratio), adv, hp), expected, rtol=1e-5)
    # Its maximum over r lies at the edge of PPO's trust region, r = 1 + eps sign(A).
    d_dr = jax.grad(lambda r, a: spo.objective(jnp.log(r), a, hp))
    assert abs(float(d_dr(jnp.float32(1.2), jnp.float32(3.0)))) < 1e-5
    assert abs(float(d_dr(jnp.float32(0.8), jnp.float32(-3.0)))) < 1e-5


def test_grpo_advantage_is_the_batch_standardised_return_to_go():
    # 3 steps x 2 envs, gamma 0.5. Env 0's episode ends after step 1; env 1 runs on past the
    # rollout, and with no critic its return stops there.
    traj = transition(reward=[[1.0, 2.0], [3.0, 0.0], [4.0, 8.0]], done=[[0, 0], [1, 0], [0, 0]],
                      terminated=[[0, 0], [1, 0], [0, 0]])
    returns = np.array([[1 + 0.5 * 3, 2 + 0.5 * 0 + 0.25 * 8], [3.0, 0 + 0.5 * 8], [4.0, 8.0]])
    advantages, targets = V.group_advantages(traj, jnp.zeros((3, 2)), V.GRPOHParams(gamma=0.5))
    np.testing.assert_allclose(advantages, (returns - returns.mean()) / returns.std(), rtol=1e-5)
    np.testing.assert_allclose(targets, 0.0)
    net = V.policy_only_network(make("probe/action-reward"), V.Static())
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((1, 1)))
    assert set(params["params"]) == {"actor"}  # no critic


def test_vanilla_advantage_is_bootstrapped_return_minus_value():
    # 2 steps, 1 env, gamma 0.9: reward 1 then 2, episode truncated at the end, V(final) = 10;
    # next_value[0] is V(s_1), the value recorded for the next step.
    traj = transition(reward=[[1.0], [2.0]], value=[[4.0], [3.0]], done=[[0], [1]])
    advantages, targets = V.monte_carlo_advantages(traj, jnp.array([[3.0], [10.0]]), V.VanillaHParams(gamma=0.9))
    returns = np.array([[1 + 0.9 * (2 + 0.9 * 10)], [2 + 0.9 * 10]])
    np.testing.assert_allclose(targets, returns, rtol=1e-6)
    np.testing.assert_allclose(advantages, returns - np.array([[4.0], [3.0]]), rtol=1e-6)


def test_advn_standardises_each_minibatch_before_the_surrogate():
    # The update calls the loss once per minibatch, so ADVN's standardisation is per minibatch:
    # its loss on raw advantages equals PPO+GAE's loss on advantages standardised by hand.
    env = make("probe/action-observation-reward")
    net = common.actor_critic(env, V.Static(hidden_sizes=(8,)))
    obs = jnp.array([[1.0], [-1.0], [1.0], [-1.0]])
    params = net.init(jax.random.PRNGKey(0), obs)
    old_log_prob = jnp.log(jnp.array([0.3, 0.6, 0.5, 0.2]))
    traj = transition(reward=jnp.zeros(4), obs=obs, action=jnp.array([1, 0, 0, 1]), log_prob=old_log_prob)
    raw = jnp.array([1.0, 2.0, 3.0, 10.0])
    by_hand = (raw - 4.0) / np.sqrt(12.5)
    hp = V.GAEHParams()

    @jax.jit
    def both(params):
        loss_and_grad = jax.value_and_grad(common.surrogate_loss, has_aux=True)
        return (loss_and_grad(params, net, (traj, raw, raw), hp, V.AdvnStatic(), common.clipped_surrogate),
                loss_and_grad(params, net, (traj, by_hand, raw), hp, V.Static(), common.clipped_surrogate))

    advn, gae = both(params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), advn, gae)


# --- learning on the probes ---------------------------------------------------------------


def test_critic_learns_discounted_two_step_values():
    # The variants share this critic and its optimiser (ADVN's is PPO+GAE's exactly; vanilla
    # PPO's differs only in its targets, checked above); DPO's and SPO's are PPO's, tested in
    # tests/test_ppo.py; GRPO has none.
    env = make("probe/two-step")
    static = PPO_GAE.Static(**SHAPE)
    state, _ = train(PPO_GAE, env, static, {"critic_lr": 3e-3, "gamma": 0.9}, seed=0)
    obs = jnp.array([[0.0], [1.0]])
    net = common.actor_critic(env, static)
    np.testing.assert_allclose(net.apply(state.params, obs, method=net.value), env.true_value(obs, 0.9), atol=0.05)


@pytest.mark.slow
def test_advantage_normalised_variant_runs_on_brax():
    # The other three variants run on brax/hopper in test_accelerator_specs.py (the Tang & Zhang
    # spec). Brax physics takes ~20 s of CPU to compile per program, hence one cheap env, a tiny
    # network and two iterations: this checks that it runs on continuous locomotion-style
    # observations and actions, not that it learns.
    env = make("brax/inverted_pendulum")
    static = PPO_ADVN.Static(total_env_steps=2 * 4 * 8, num_envs=4, num_steps=8, num_minibatches=2, update_epochs=1,
                             hidden_sizes=(16, 16))
    state, metrics = train(PPO_ADVN, env, static, {}, seed=0)
    assert metrics["loss"].shape == (2,)
    assert np.isfinite(metrics["loss"]).all() and not metrics["diverged"].any()
    assert "critic" in state.params["params"]
