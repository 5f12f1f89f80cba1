"""Time PureJaxRL's own `ppo.py` (CartPole-v1, its published configuration) over N seeds, the way
its README runs many seeds: `jax.jit(jax.vmap(make_train(config)))` over N keys.

PureJaxRL is not a dependency of the suite (its policy head needs distrax, which pulls in
tensorflow-probability), so this script runs in a separate virtualenv holding jax, flax, optax,
gymnax and distrax at the suite's versions, with PureJaxRL's `purejaxrl/` folder on the path:

    python -m venv /tmp/pjx && /tmp/pjx/bin/pip install jax==0.10.2 flax==0.12.8 optax==0.2.8 \
        chex==0.1.92 brax==0.14.2 distrax && /tmp/pjx/bin/pip install --no-deps gymnax==0.0.9
    git clone https://github.com/luchris429/purejaxrl   # measured at its commit 31756b1
    /tmp/pjx/bin/python benchmarks/purejaxrl_ppo_speed.py --purejaxrl purejaxrl/purejaxrl --runs 16 --steps 500000

Compile is excluded (ahead-of-time `lower().compile()`, then one timed call), as in
benchmarks/plain_ppo_cartpole.py, so the two figures compare directly with the suite's.
PureJaxRL's `wrappers.py` also imports brax (install it) and navix (an empty stand-in is used
when navix is absent: only its own wrapper class touches it), and its ppo.py expects gymnax's
0.0.x five-value `step` (install gymnax 0.0.9 there). PureJaxRL's `DEBUG` callback (a host
print every update) is switched off for timing.
"""

import argparse
import os
import platform
import sys
import time
import types


def _orthogonal_init_one_key_at_a_time() -> None:
    """Make flax's orthogonal initialiser run its QR one key at a time under vmap.

    `jax.vmap(make_train(config))` batches the orthogonal init's QR decomposition, and jaxlib
    0.10.2's batched LAPACK QR on CPU deadlocks its thread pool on the 2-core machine (the run
    sits at zero load forever; the suite's runner initialises with lax.map for the same reason).
    The values are unchanged; only how the batch is looped differs, and init is outside the hot
    loop. Must run before ppo.py imports `orthogonal`."""
    import flax.linen.initializers as flax_inits
    import jax

    original = flax_inits.orthogonal

    def orthogonal(*args, **kwargs):
        init = original(*args, **kwargs)

        def sequential(key, shape, dtype=jax.numpy.float32):
            @jax.custom_batching.custom_vmap
            def one(k):
                return init(k, shape, dtype)

            @one.def_vmap
            def _(axis_size, in_batched, k):
                return jax.lax.map(one, k), True

            return one(key)

        return sequential

    flax_inits.orthogonal = orthogonal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purejaxrl", required=True, help="the folder holding PureJaxRL's ppo.py and wrappers.py")
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=500_000, help="env steps per run")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.purejaxrl, "ppo.py")):
        parser.error(f"--purejaxrl: no ppo.py in {args.purejaxrl!r}")  # exit 2, no traceback
    sys.path.insert(0, args.purejaxrl)
    try:
        import navix  # noqa: F401
    except ImportError:  # wrappers.py imports navix for its NavixGymnaxWrapper only, unused here
        sys.modules["navix"] = types.ModuleType("navix")
    import jax

    _orthogonal_init_one_key_at_a_time()
    from ppo import make_train  # PureJaxRL's own file, unmodified

    # The configuration of ppo.py's __main__ (CleanRL's CartPole settings), timing without DEBUG.
    config = {"LR": 2.5e-4, "NUM_ENVS": 4, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": args.steps, "UPDATE_EPOCHS": 4,
              "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01,
              "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh", "ENV_NAME": "CartPole-v1",
              "ANNEAL_LR": True, "DEBUG": False}
    keys = jax.random.split(jax.random.PRNGKey(30), args.runs)
    started = time.perf_counter()
    compiled = jax.jit(jax.vmap(make_train(config))).lower(keys).compile()
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    jax.block_until_ready(compiled(keys))
    seconds = time.perf_counter() - started
    batch = config["NUM_STEPS"] * config["NUM_ENVS"]
    per_run = config["TOTAL_TIMESTEPS"] // batch * batch  # whole updates, as make_train runs them
    print(f"PureJaxRL ppo.py CartPole-v1: {args.runs} runs x {per_run:,} steps in {seconds:.2f} s "
          f"(compile {compile_s:.1f} s beforehand) = {args.runs * per_run / seconds:,.0f} env-steps/s "
          f"[{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"jax {jax.__version__}, {jax.devices()[0].platform}]")


if __name__ == "__main__":
    main()
