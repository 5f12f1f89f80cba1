#!/usr/bin/env bash
# The accelerator checks, as one script: run it whenever a GPU (or TPU) machine is available and
# commit what it writes. About 8 minutes on one H200 (sized for it; each check prints as it ends).
#
#   bash benchmarks/device_check.sh                 # writes results/device/<check>.json
#   bash benchmarks/device_check.sh --dry-run       # tiny sizes on any machine (the tests run this)
#   bash benchmarks/device_check.sh --out DIR
#
# Checks (each a JSON file naming the hardware, the command, env steps and seconds):
#   ppo_cartpole_2048   PPO (CleanRL settings) on CartPole-v1, 2,048 runs x 500k env steps as one
#                       block; PureJaxRL's published figure: about 98 s for 2,048 seeds on one A100
#   minatar_breakout_64 PPO (gymnax-blines settings) on Breakout-MinAtar, 64 runs x 1M env steps
#   brax_hopper         PureJaxRL's PPO on Brax hopper, 4 seeds x 5M env steps (--scale 0.1)
#   tang_zhang_smoke    benchmarks/tang_zhang_brax.toml --smoke: every one of its 15 programs
# The dry run times the first at 4 runs x 8k steps and only validates the specs of the others
# (their compiles alone take minutes on 2 CPU cores); tests/test_device_check.py runs it.
set -euo pipefail

PYTHON=${PYTHON:-python}
DRY_RUN=0
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --out) OUT="$2"; shift ;;
    *) echo "device_check.sh: unknown argument '$1' (use --dry-run, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "$OUT" ]; then
  if [ "$DRY_RUN" = 1 ]; then OUT=$(mktemp -d); else OUT="$HERE/../results/device"; fi
fi
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SUITE=("$PYTHON" -m jaxrl_suite.cli)
FLAG=()
[ "$DRY_RUN" = 1 ] && FLAG=(--dry-run)

"$PYTHON" -c "import jax; print('device_check on', [f'{d.platform}:{d.device_kind}' for d in jax.devices()])"

# 1. PPO CartPole: all runs in one block (the accelerator default), compile separated from steady speed.
if [ "$DRY_RUN" = 1 ]; then RUNS=4; STEPS=8192; else RUNS=2048; STEPS=500000; fi
"$PYTHON" "$HERE/speed_ppo_cartpole.py" --one --runs "$RUNS" --steps "$STEPS" > "$WORK/cartpole.json"
"$PYTHON" - "$WORK/cartpole.json" "$OUT/ppo_cartpole_2048.json" "$DRY_RUN" "$RUNS" "$STEPS" <<'PY'
import json, sys
source, destination, dry, runs, steps = sys.argv[1:]
result = json.loads(open(source).read().strip().splitlines()[-1])
# one segment (a dry run) leaves no steady segment to time: say so with null, not NaN
result = {k: None if isinstance(v, float) and v != v else v for k, v in result.items()}
result.update(check="ppo_cartpole_2048", dry_run=dry == "1", hardware=[result.pop("device")],
              command=f"python benchmarks/speed_ppo_cartpole.py --one --runs {runs} --steps {steps}",
              published="PureJaxRL: about 98 s for 2,048 seeds x 500k on one A100 (compile included)")
open(destination, "w").write(json.dumps(result, indent=2) + "\n")
print(json.dumps(result))
PY

# 2. MinAtar Breakout: the gymnax-blines configuration, 64 seeds, 1M env steps each.
sed -e 's/^envs = .*/envs = ["gymnax\/Breakout-MinAtar"]/' -e "s/^test_seeds = .*/test_seeds = 64/" \
    -e '/^\[\[references\]\]/,$d' "$HERE/reproduce_blines_ppo_minatar.toml" > "$WORK/breakout.toml"
if [ "$DRY_RUN" = 0 ]; then
  "${SUITE[@]}" run "$WORK/breakout.toml" --scale 0.1 --out "$WORK/breakout" --quiet --no-compile-cache
  "$PYTHON" "$HERE/device_summary.py" minatar_breakout_64 "$WORK/breakout" \
      --command "jaxrl-suite run (reproduce_blines_ppo_minatar.toml, Breakout only, 64 seeds) --scale 0.1" \
      | tee "$OUT/minatar_breakout_64.json"
fi

# 3. and 4. Brax: PureJaxRL's hopper, then every program of the Tang & Zhang spec. (A dry run
# validates the MinAtar and Brax specs in full but compiles none of them: minutes on 2 cores.)
if [ "$DRY_RUN" = 1 ]; then
  for CHECK in minatar_breakout_64:$WORK/breakout brax_hopper:$HERE/reproduce_purejaxrl_ppo_hopper \
               tang_zhang_smoke:$HERE/tang_zhang_brax; do
    "$PYTHON" - "${CHECK%%:*}" "${CHECK#*:}.toml" "$OUT/${CHECK%%:*}.json" <<'PY'
import json, sys
from jaxrl_suite.spec import load_spec
from jaxrl_suite.study import plan
check, spec, destination = sys.argv[1:]
groups, _ = plan(load_spec(spec))  # every check short of compiling
result = {"check": check, "dry_run": True, "spec": spec.rsplit("/", 1)[-1], "validated_groups": len(groups),
          "runs": sum(len(g.runs) for g in groups)}
open(destination, "w").write(json.dumps(result) + "\n")
print(json.dumps(result))
PY
  done
else
  "${SUITE[@]}" run "$HERE/reproduce_purejaxrl_ppo_hopper.toml" --scale 0.1 --out "$WORK/hopper" --quiet --no-compile-cache
  "$PYTHON" "$HERE/device_summary.py" brax_hopper "$WORK/hopper" \
      --command "jaxrl-suite run benchmarks/reproduce_purejaxrl_ppo_hopper.toml --scale 0.1" | tee "$OUT/brax_hopper.json"
  "${SUITE[@]}" run "$HERE/tang_zhang_brax.toml" --smoke --scale 0.007 --out "$WORK/tz" --quiet --no-compile-cache
  "$PYTHON" "$HERE/device_summary.py" tang_zhang_smoke "$WORK/tz" \
      --command "jaxrl-suite run benchmarks/tang_zhang_brax.toml --smoke --scale 0.007" | tee "$OUT/tang_zhang_smoke.json"
fi
echo "device_check: wrote $OUT"
