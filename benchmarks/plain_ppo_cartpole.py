"""A plain single-file JAX PPO on gymnax CartPole-v1: the speed reference for the suite.

Same configuration as the suite's `ppo/cleanrl` preset (4 envs x 128 steps, 4 epochs x 4
minibatches, separate 2x64 tanh actor and critic), but with none of the suite's machinery: no
runner, no episode tracker, no divergence guard, no evaluation, no truncation bootstrap. The
suite's overhead is the gap between this and benchmarks/speed_ppo_cartpole.py on one machine.

    python benchmarks/plain_ppo_cartpole.py --runs 16 --steps 500000
"""

import argparse
import os
import platform
import time

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax

NUM_ENVS, NUM_STEPS, EPOCHS, MINIBATCHES = 4, 128, 4, 4
LR, GAMMA, LAMBDA, CLIP, ENT, VF, MAX_NORM = 2.5e-4, 0.99, 0.95, 0.2, 0.01, 0.5, 0.5


class Net(nn.Module):
    actions: int

    @nn.compact
    def __call__(self, x):
        ortho = nn.initializers.orthogonal
        a = nn.tanh(nn.Dense(64, kernel_init=ortho(np.sqrt(2)))(x))
        a = nn.tanh(nn.Dense(64, kernel_init=ortho(np.sqrt(2)))(a))
        logits = nn.Dense(self.actions, kernel_init=ortho(0.01))(a)
        c = nn.tanh(nn.Dense(64, kernel_init=ortho(np.sqrt(2)))(x))
        c = nn.tanh(nn.Dense(64, kernel_init=ortho(np.sqrt(2)))(c))
        return logits, nn.Dense(1, kernel_init=ortho(1.0))(c)[..., 0]


def make_train(total_steps):
    env, params = gymnax.make("CartPole-v1")
    iterations = total_steps // (NUM_ENVS * NUM_STEPS)
    net = Net(env.action_space(params).n)
    schedule = lambda c: LR * (1.0 - c / (iterations * EPOCHS * MINIBATCHES))
    tx = optax.chain(optax.clip_by_global_norm(MAX_NORM), optax.adam(schedule, eps=1e-5))
    step = jax.vmap(env.step, (0, 0, 0, None))

    def init(key):
        key, k_net, k_env = jax.random.split(key, 3)
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_env, NUM_ENVS), params)
        weights = net.init(k_net, obs)
        return weights, tx.init(weights), state, obs, key

    def train(carry):

        def iteration(carry, _):
            weights, opt, state, obs, key = carry

            def env_step(c, _):
                state, obs, key = c
                key, k_a, k_s = jax.random.split(key, 3)
                logits, value = net.apply(weights, obs)
                action = jax.random.categorical(k_a, logits)
                logp = jax.nn.log_softmax(logits)[jnp.arange(NUM_ENVS), action]
                obs2, state, reward, term, trunc, info = step(jax.random.split(k_s, NUM_ENVS), state, action, params)
                return (state, obs2, key), (obs, action, logp, value, reward, term | trunc)

            (state, obs, key), (b_obs, b_act, b_logp, b_val, b_rew, b_done) = jax.lax.scan(
                env_step, (state, obs, key), None, NUM_STEPS
            )
            _, last_val = net.apply(weights, obs)

            def gae(c, x):
                adv, next_val = c
                done, val, rew = x
                delta = rew + GAMMA * next_val * (1 - done) - val
                adv = delta + GAMMA * LAMBDA * (1 - done) * adv
                return (adv, val), adv

            _, adv = jax.lax.scan(gae, (jnp.zeros(NUM_ENVS), last_val), (b_done, b_val, b_rew), reverse=True)
            targets = adv + b_val
            batch = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), (b_obs, b_act, b_logp, b_val, adv, targets))

            def loss(w, mb):
                o, a, lp_old, v_old, adv, tgt = mb
                logits, v = net.apply(w, o)
                lp = jax.nn.log_softmax(logits)[jnp.arange(o.shape[0]), a]
                v_clip = v_old + jnp.clip(v - v_old, -CLIP, CLIP)
                v_loss = 0.5 * jnp.maximum((v - tgt) ** 2, (v_clip - tgt) ** 2).mean()
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                ratio = jnp.exp(lp - lp_old)
                pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - CLIP, 1 + CLIP) * adv).mean()
                p = jax.nn.softmax(logits)
                ent = -(p * jnp.log(p + 1e-12)).sum(-1).mean()
                return pg + VF * v_loss - ENT * ent

            def epoch(c, k):
                w, o = c
                perm = jax.random.permutation(k, NUM_ENVS * NUM_STEPS)
                mbs = jax.tree.map(lambda x: x[perm].reshape((MINIBATCHES, -1, *x.shape[1:])), batch)

                def mb_step(c, mb):
                    w, o = c
                    g = jax.grad(loss)(w, mb)
                    u, o = tx.update(g, o, w)
                    return (optax.apply_updates(w, u), o), None

                return jax.lax.scan(mb_step, (w, o), mbs)[0], None

            key, k_e = jax.random.split(key)
            (weights, opt), _ = jax.lax.scan(epoch, (weights, opt), jax.random.split(k_e, EPOCHS))
            return (weights, opt, state, obs, key), b_rew.sum()

        _, rewards = jax.lax.scan(iteration, carry, None, iterations)
        return rewards

    return init, train, iterations * NUM_ENVS * NUM_STEPS


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=500_000)
    args = parser.parse_args()
    init, train, steps = make_train(args.steps)
    keys = jax.random.split(jax.random.PRNGKey(0), args.runs)
    # Initialised one run at a time: a vmapped orthogonal init (batched QR) can deadlock jaxlib's
    # CPU backend on 2 cores; only the training below is timed.
    carry = jax.block_until_ready(jax.jit(lambda k: jax.lax.map(init, k))(keys))
    compiled = jax.jit(jax.vmap(train)).lower(carry).compile()
    t = time.perf_counter()
    jax.block_until_ready(compiled(carry))
    seconds = time.perf_counter() - t
    print(f"plain PPO CartPole-v1: {args.runs} runs x {steps:,} steps in {seconds:.2f} s (compiled beforehand) = "
          f"{args.runs * steps / seconds:,.0f} env-steps/s on {platform.machine()} with {os.cpu_count()} cores, "
          f"{jax.devices()[0].device_kind}")


if __name__ == "__main__":
    main()
