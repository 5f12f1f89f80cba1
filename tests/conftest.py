"""Settings for the whole test session."""

import os

from jaxrl_suite import compile_cache

# Tests compile afresh and never write into the user's compilation cache: a test's cost and
# behaviour must not depend on what an earlier run left on the machine. The tests that exercise
# the cache point it at a temporary folder themselves.
os.environ[compile_cache.ENV_VAR] = compile_cache.OFF
