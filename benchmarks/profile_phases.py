"""Where a segment's time goes: collection, advantages, learning, evaluation and the host, for PPO,
DQN and SAC, with how busy the CPU cores are.

Each phase is timed as its own compiled program over the same runs axis the runner uses (a
vmapped block of runs, `lax.scan` over iterations), from the same starting state, compile
excluded (every program runs once before it is timed):

  collect     the rollout alone (PPO: num_envs x num_steps; DQN/SAC: their steps per iteration,
              replay-buffer insertion included)
  advantages  PPO: + the bootstrap value and GAE (what it adds to collect)
  update      the algorithm's whole iteration (`algo.update`); learning = update - collect(+gae)
  evaluate    the runner's evaluation (10 episodes, deterministic policy, up to 2,000 steps)

CPU use is process CPU seconds (user + system) over wall seconds while a program runs: 1.0 is
one core busy, 2.0 both cores of this machine.

    python benchmarks/profile_phases.py                 # PPO, DQN, SAC at 16 runs
    python benchmarks/profile_phases.py --runs 64 --only ppo
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import jax
import jax.numpy as jnp

CASES = {  # name: (algorithm, preset, environment, iterations timed)
    "ppo": ("ppo", "cleanrl-cartpole", "gymnax/CartPole-v1", 20),
    "dqn": ("dqn", "cleanrl-cartpole", "gymnax/CartPole-v1", 2_000),
    "sac": ("sac", None, "gymnax/Pendulum-v1", 200),
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn, *args, repeats: int = 3) -> tuple[float, float]:
    """(best wall seconds, CPU seconds / wall seconds of that call) of fn(*args), compiled first."""
    jax.block_until_ready(fn(*args))
    best, busy = float("inf"), 0.0
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), cpu_seconds()
        jax.block_until_ready(fn(*args))
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        if wall < best:
            best, busy = wall, cpu / wall
    return best, busy


def phases(name: str, runs: int) -> list[tuple[str, float, float, int]]:
    """(phase, seconds, cores busy, env steps) per phase for `runs` runs."""
    from jaxrl_suite.algos import ALGORITHMS, common
    from jaxrl_suite.envs import make
    from jaxrl_suite.runner import EvalSettings, evaluate, evaluation_env, run_keys, stack_hparams
    from jaxrl_suite.spec import parse_spec
    from jaxrl_suite.study import plan

    algorithm, preset, env_id, iterations = CASES[name]
    algo = ALGORITHMS[algorithm]
    entry = {"algorithm": algorithm, **({"preset": preset} if preset else {})}
    spec = parse_spec({"name": "profile", "envs": [env_id], "total_env_steps": 1_000_000,
                       "test_seeds": runs, "evaluation": {"every_env_steps": 50_000, "episodes": 10},
                       "algorithms": [entry]})
    (group,), _ = plan(spec)
    static, env = group.static, make(env_id)
    params = env.default_params
    hp = stack_hparams(algo, group.runs)
    keys = run_keys(group.runs)
    n = algo.steps_per_iteration(static)
    state = jax.jit(jax.vmap(lambda k, h: algo.init(k, h, static, env, params)))(keys, hp)
    # Past any warm-up (DQN's is a hyperparameter, SAC's a Static setting), so the learning phase
    # is timed as it runs for most of training.
    warm_up = max(float(jnp.max(getattr(hp, "learning_starts", 0.0))), getattr(static, "learning_starts", 0))
    if warm_up:
        state = scanned(lambda s, h: (algo.update(s, h, static, env, params)[0], 0.0), int(warm_up // n) + 1)(
            state, hp)[0]

    # Each step returns (state, a scalar the scan stacks): whatever a phase computes reaches the
    # program's output, so XLA cannot drop it as dead code.
    def collect(s, h):
        if algorithm == "ppo":
            s, traj = common.collect_actor_critic(s, common.actor_critic(env, static), static, env, params, h.gamma)
        elif algorithm == "dqn":
            net = common.q_network(env, static)
            s, traj = common.collect_epsilon_greedy(s, net, h, static, env, params, static.train_frequency)
        else:
            from jaxrl_suite.algos import sac

            s, traj, _ = sac.collect(s, static, env, params)
        return s, jnp.sum(traj.reward)

    def with_advantages(s, h):
        net = common.actor_critic(env, static)
        s, traj = common.collect_actor_critic(s, net, static, env, params, h.gamma)
        next_value = net.apply(s.params, traj.final_obs, method=net.value)
        advantages, _ = common.gae_advantages(traj, next_value, h)
        return s, jnp.sum(advantages)

    def update(s, h):
        s, metrics = algo.update(s, h, static, env, params)
        return s, metrics["loss"]

    out = []
    programs = [("collect", collect), ("update", update)]
    if algorithm == "ppo":
        programs.insert(1, ("collect + advantages", with_advantages))
    for phase, step in programs:
        seconds, busy = timed(scanned(step, iterations), state, hp)
        out.append((phase, seconds / iterations, busy, n * runs))
    evaluation = EvalSettings(episodes=10)
    eval_env = evaluation_env(env)
    evaluator = jax.jit(jax.vmap(lambda s, k: evaluate(algo, s, k, static, eval_env, params, evaluation)))
    seconds, busy = timed(evaluator, state, keys)
    out.append(("evaluate (10 episodes)", seconds, busy, 0))
    return out


def scanned(step, iterations: int):
    """`iterations` of step(state, hp) -> (state, scalar), vmapped over the runs: (state, scalars)."""
    return jax.jit(jax.vmap(lambda s, h: jax.lax.scan(lambda c, _: step(c, h), s, None, iterations)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), default=sorted(CASES))
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"jax {jax.__version__} on {jax.devices()[0].device_kind}; {args.runs} runs vmapped")
    print(f"{'case':<5} {'phase':<24} {'ms/iteration':>13} {'env-steps/s':>12} {'cores busy':>11}")
    for name in args.only:
        for phase, seconds, busy, steps in phases(name, args.runs):
            rate = f"{steps / seconds:,.0f}" if steps else "—"
            print(f"{name:<5} {phase:<24} {seconds * 1e3:>13.3f} {rate:>12} {busy:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
