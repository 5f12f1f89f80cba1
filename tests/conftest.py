"""Settings for the whole test session."""

import os

from jaxrl_suite import compile_cache

# Tests compile afresh and never write into the user's compilation cache: a test's cost and
# behaviour must not depend on what an earlier run left on the machine. The tests that exercise
# the cache point it at a temporary folder themselves.
os.environ[compile_cache.ENV_VAR] = compile_cache.OFF

# One XLA CPU device for the whole session. The CLI gives XLA one device per core when it runs
# before JAX is loaded, and a test calling `main(["run", ...])` first in a worker would otherwise
# leave that worker with several devices (every program compiled once per device). Tests that
# want more devices or the CLI's default set it themselves, in a subprocess.
os.environ["JAXRL_SUITE_CPU_DEVICES"] = "1"
