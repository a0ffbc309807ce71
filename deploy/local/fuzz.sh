#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build the libFuzzer targets (Fuzz/, declared in Package.swift only when PARCELFLOW_FUZZ=1) and run
# each for a bounded time against the committed corpus. Exits non-zero when a fuzzer finds an input
# that crashes or breaks a property (Tests/FuzzProperties), and prints where that input is.
#
# Usage: deploy/local/fuzz.sh [--seconds N] [--build-only] [TARGET...]
#   TARGET                    task-decoder, header-decoder, submission-reader (default: all three)
#   --seconds N               how long each target runs (default PARCELFLOW_FUZZ_SECONDS, else 30);
#                             0 skips fuzzing (and the build) altogether
#   --build-only              build the targets, run nothing
#
# The build goes to .build-fuzz (release, fuzzer and address sanitizers, only the decoders' modules). Corpus read:
# Tests/FuzzCorpus/TARGET and Tests/FuzzCorpus/regressions/TARGET (committed). New inputs the fuzzer
# finds interesting go to .local/fuzz/TARGET/corpus, crashing inputs to .local/fuzz/TARGET/crashes
# (both git-ignored). A crash becomes a regression: fix it, then commit the input under
# Tests/FuzzCorpus/regressions/TARGET/, where the ordinary test suite (FuzzCorpusTests) replays it.
# Replay one input: .build-fuzz/release/fuzz-TARGET FILE
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
cd "$ROOT"

ALL_TARGETS=(task-decoder header-decoder submission-reader)
seconds=${PARCELFLOW_FUZZ_SECONDS:-30}
build_only=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
  --seconds)
    [ $# -ge 2 ] || pf_die "--seconds needs a number"
    seconds=$2
    shift 2
    ;;
  --seconds=*)
    seconds=${1#--seconds=}
    shift
    ;;
  --build-only)
    build_only=1
    shift
    ;;
  -h | --help)
    sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
  -*) pf_die "unknown option: $1 (see --help)" ;;
  *)
    case " ${ALL_TARGETS[*]} " in
    *" $1 "*) targets+=("$1") ;;
    *) pf_die "unknown fuzz target: $1 (one of: ${ALL_TARGETS[*]})" ;;
    esac
    shift
    ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] || pf_die "--seconds (or PARCELFLOW_FUZZ_SECONDS) must be a whole number, not '$seconds'"
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

if [ "$seconds" -eq 0 ] && [ $build_only -eq 0 ]; then
  pf_log "fuzzing skipped (PARCELFLOW_FUZZ_SECONDS=0)"
  exit 0
fi

# The longest input each target is given: a task is about 1 KB, a header table a few hundred bytes
# (4 KB reaches both bounds: 17 levels, 1,001 entries), a submission file a few lines.
max_len() {
  case "$1" in
  task-decoder) echo 4096 ;;
  header-decoder) echo 4096 ;;
  submission-reader) echo 4096 ;;
  esac
}

pf_ensure_swift_path
SCRATCH="$ROOT/.build-fuzz"
WORK="$ROOT/.local/fuzz"

# SwiftPM's --sanitize=fuzzer links libFuzzer (the toolchain's own) and compiles the targets as
# libraries, so that libFuzzer's main drives LLVMFuzzerTestOneInput. AddressSanitizer too: in a
# release build Swift does not check the raw-buffer reads the decoders make; ASan does.
build_flags=(-c release --scratch-path "$SCRATCH" --sanitize=fuzzer --sanitize=address)
pf_section "Fuzz: build (${targets[*]})"
build_start=$SECONDS
for target in "${targets[@]}"; do
  # One product at a time: each builds only the modules its decoder needs (not the HTTP stack).
  if ! PARCELFLOW_FUZZ=1 swift build "${build_flags[@]}" --product "fuzz-$target"; then
    pf_section "Result: fuzz build FAILED (fuzz-$target)"
    exit 1
  fi
done
bin_dir=$(PARCELFLOW_FUZZ=1 swift build "${build_flags[@]}" --show-bin-path)
pf_log "built in $((SECONDS - build_start)) s: $bin_dir/fuzz-{$(
  IFS=,
  echo "${targets[*]}"
)}"
[ $build_only -eq 1 ] && exit 0

failed=()
for target in "${targets[@]}"; do
  pf_section "Fuzz: $target for ${seconds} s"
  corpus="$WORK/$target/corpus"
  crashes="$WORK/$target/crashes"
  mkdir -p "$corpus" "$crashes"
  seeds=("Tests/FuzzCorpus/$target")
  [ -d "Tests/FuzzCorpus/regressions/$target" ] && seeds+=("Tests/FuzzCorpus/regressions/$target")
  marker=$(mktemp)
  log="$WORK/$target/last-run.log"
  rc=0
  # The first corpus folder is where libFuzzer writes what it finds; the committed ones are only read.
  # Swift's own backtracer off: libFuzzer and ASan report the crash, and the backtracer confuses ASan.
  SWIFT_BACKTRACE=enable=no "$bin_dir/fuzz-$target" -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 \
    -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$crashes/" \
    "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  grep -E '^(#[0-9]+ +DONE|INFO: seed corpus|stat::number_of_executed_units|stat::new_units_added)' "$log" | sed 's/^/  /' || true
  found=()
  while IFS= read -r -d '' file; do found+=("$file"); done < <(find "$crashes" -type f -newer "$marker" -print0)
  rm -f "$marker"
  if [ $rc -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
    failed+=("$target")
    # What broke: the property or the trap, then libFuzzer's summary.
    grep -E 'Fatal error|ERROR: libFuzzer|SUMMARY|deadly signal|Test unit written' "$log" | head -n 20 | sed 's/^/  /' || true
    pf_log "$target FAILED (libFuzzer exit status $rc); whole log: $log"
    for file in "${found[@]}"; do
      pf_log "  crashing input: $file (replay: $bin_dir/fuzz-$target $file)"
    done
  else
    pf_log "$target: no crash in ${seconds} s ($(find "$corpus" -type f | wc -l) inputs in $corpus)"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  pf_section "Result: fuzzing FAILED: ${failed[*]}"
  exit 1
fi
pf_section "Result: fuzzing found nothing (${targets[*]}, ${seconds} s each)"
