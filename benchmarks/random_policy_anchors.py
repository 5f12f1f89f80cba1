"""The uniform-random policy's mean return per environment: the `lo` of the normalisation anchors.

Each of `--episodes` env copies (one PRNG stream each, split from PRNGKey(`--seed`)) plays its
FIRST episode to termination or the environment's time limit with actions drawn uniformly from
the action space -- uniformly over the legal actions where the environment has an action mask
(Jumanji), since an illegal move is no move a policy of the suite would make. The return of that
episode is recorded; the mean and its standard error are what jaxrl_suite/evaluation/anchors.toml
records as `lo`, with this command beside it. The copies step in one vmapped `while_loop` that
stops when every copy has finished its first episode (or at `--max-steps`, reported if hit, in
which case the number is no anchor: episodes were cut).

    python benchmarks/random_policy_anchors.py ENV_ID [ENV_ID ...] [--episodes 64] [--seed 0]

Prints one line per id: episodes, mean +- standard error, min/max, the mean episode length, and
the seconds it took (compile included). Continuous action spaces (Box) are sampled uniformly in
their bounds, as the Brax anchors were.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np


def uniform_action(key, env, env_state, params):
    """One uniformly random action; uniform over the legal ones where the env masks actions."""
    from jaxrl_suite.envs.core import Discrete

    space = env.action_space(params)
    if isinstance(space, Discrete) and env.has_action_mask:
        legal = env.action_mask(env_state, params)
        return jax.random.categorical(key, jnp.where(legal, 0.0, -jnp.inf))
    return space.sample(key)


def first_episode_returns(env, params, key, episodes: int, max_steps: int):
    """(returns, lengths, finished) of each copy's first episode, as numpy arrays."""

    def play(key):
        reset_key, key = jax.random.split(key)
        _, env_state = env.reset(reset_key, params)
        # carry: state, key, return so far, steps so far, finished
        init = (env_state, key, jnp.float32(0.0), jnp.int32(0), jnp.bool_(False))

        def cond(carry):
            *_, steps, finished = carry
            return (~finished) & (steps < max_steps)

        def body(carry):
            env_state, key, total, steps, _ = carry
            key, action_key, step_key = jax.random.split(key, 3)
            action = uniform_action(action_key, env, env_state, params)
            _, env_state, reward, terminated, truncated, _ = env.step(step_key, env_state, action, params)
            return env_state, key, total + reward, steps + 1, terminated | truncated

        _, _, total, steps, finished = jax.lax.while_loop(cond, body, init)
        return total, steps, finished

    keys = jax.random.split(key, episodes)
    return tuple(np.asarray(x) for x in jax.jit(jax.vmap(play))(keys))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env_ids", nargs="+")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=200_000, help="a cap on one episode's steps")
    args = parser.parse_args(argv)

    from jaxrl_suite.envs import make

    for env_id in args.env_ids:
        start = time.perf_counter()
        env = make(env_id)
        returns, lengths, finished = first_episode_returns(
            env, env.default_params, jax.random.PRNGKey(args.seed), args.episodes, args.max_steps
        )
        seconds = time.perf_counter() - start
        stderr = returns.std(ddof=1) / np.sqrt(len(returns)) if len(returns) > 1 else float("nan")
        cut = "" if finished.all() else f"  ({(~finished).sum()} episodes CUT at {args.max_steps} steps: no anchor)"
        print(f"{env_id}: {len(returns)} episodes, mean {returns.mean():.4f} +- {stderr:.4f} "
              f"(min {returns.min():.4f}, max {returns.max():.4f}), mean length {lengths.mean():.1f}, "
              f"{seconds:.0f} s{cut}", flush=True)


if __name__ == "__main__":
    main()
