#!/usr/bin/env bash
# CTest "gpu_check_plan" (CPU, runs in CI): scripts/gpu-check.sh parses (bash -n), passes the
# linter shellcheck, and its --dry-run plan is the one device call it promises: every step of the default
# plan listed with its budget, the budgets adding up to the last line "total budget: N s", and
# N <= 540 (the device tool's command limit is 600 s; the rest is the report and a margin).
# Exits 77 (CTest: skipped) only when everything else passed and shellcheck is not installed.
set -uo pipefail

script=${1:?usage: gpu_check_plan.sh path/to/gpu-check.sh}
fail() { echo "gpu_check_plan: $*" >&2; exit 1; }

bash -n "$script" || fail "bash -n found a syntax error in $script"

plan=$(bash "$script" --dry-run) || fail "--dry-run exited with status $?"
echo "$plan"
last=$(printf '%s\n' "$plan" | tail -n 1)
[[ "$last" =~ ^total\ budget:\ ([0-9]+)\ s$ ]] || fail "last line is '$last', expected 'total budget: N s'"
total=${BASH_REMATCH[1]}
[ "$total" -le 540 ] || fail "total budget $total s is over 540 s"

sum=0
for step in preflight unpack data configure build cuda_test train speed deploy sync memcheck bench; do
  line=$(printf '%s\n' "$plan" | grep -E "^  $step +[0-9]+ s") || fail "the plan has no budget line for step '$step'"
  secs=$(echo "$line" | awk '{print $2}')
  [ "$secs" -gt 0 ] || fail "step '$step' has a budget of $secs s"
  sum=$((sum + secs))
done
[ "$sum" -eq "$total" ] || fail "the steps' budgets add up to $sum s, the total says $total s"
printf '%s\n' "$plan" | grep -q 'carry=\[".deps/debs"\], timeout_s=600' || fail "the plan does not name the device invocation"

if ! command -v shellcheck >/dev/null; then
  echo "gpu_check_plan: shellcheck is not installed (Debian package shellcheck, see scripts/setup.sh): skipped"
  exit 77
fi
shellcheck "$script" || fail "shellcheck reported the findings above"
echo "gpu_check_plan: ok (total budget $total s)"
