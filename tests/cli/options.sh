#!/usr/bin/env bash
# options.sh DOCS_DIR - the command line as every command shares it (cli/options.c): -h and
# --help on every command, `vhdfold help CMD` equal to `CMD --help`, -V/--version, an unknown
# option as one line naming the command and the option with the --help hint (exit 2), the
# same number parser everywhere (gen --seed 0x10 makes the chain --seed 16 makes), the man
# pages built into DOCS_DIR/man1 rendering without warnings, the bash completion script
# (DOCS_DIR/completion/vhdfold) loading and completing, and docs/cli.md naming every option.
# Environment: VHDFOLD, VF_SOURCE_DIR. Registered by tests/options.cmake.
# shellcheck source=tests/cli/verify_lib.sh
. "$(dirname "$0")/verify_lib.sh"
docs=${1:?usage: options.sh DOCS_DIR}

# The command list of `vhdfold --help` is the one this test walks (a new command is covered
# without being named here; tests/cli/agree.sh holds the other lists to it).
run "$VHDFOLD" --help
expect_rc 0 "vhdfold --help"
commands=$(printf '%s\n' "$OUT" | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' | tr '\n' ' ')
for c in info check digest export compare gen merge conform create set-parent convert; do
  expect_match " $commands" " $c " "vhdfold --help lists $c"
done

for cmd in $commands; do
  for h in -h --help; do
    run "$VHDFOLD" "$cmd" "$h"
    expect_rc 0 "$cmd $h"
    expect_match "$OUT" "^usage: vhdfold $cmd " "$cmd $h usage line"
    expect_match "$OUT" "-h, --help" "$cmd $h lists --help"
    expect_match "$OUT" "^exit status: " "$cmd $h exit status"
  done
  help=$OUT
  run "$VHDFOLD" help "$cmd"
  expect_rc 0 "help $cmd"
  expect_eq "$OUT" "$help" "help $cmd equals $cmd --help"
  for v in -V --version; do
    run "$VHDFOLD" "$cmd" "$v"
    expect_rc 0 "$cmd $v"
    expect_match "$OUT" "^vhdfold $cmd [0-9]" "$cmd $v"
  done
  run "$VHDFOLD" "$cmd" --frobnicate=1
  expect_rc 2 "$cmd --frobnicate"
  expect_eq "$ERR" "vhdfold $cmd: unknown option '--frobnicate' (see 'vhdfold $cmd --help')" \
    "$cmd unknown option message"
  # every option --help shows is in docs/cli.md's section for the command
  section=$(awk -v c="## vhdfold $cmd" 'index($0, c) == 1 {on = 1; next} /^## / {on = 0} on' \
    "$VF_SOURCE_DIR/docs/cli.md")
  for opt in $(printf '%s\n' "$help" | grep -o -- '^  \(-., \)\?--[a-z-]*' | grep -o -- '--[a-z-]*'); do
    CHECKS=$((CHECKS + 1))
    grep -qF -- "\`$opt" <<<"$section" || fail "docs/cli.md: '## vhdfold $cmd' does not list $opt"
  done
done
run "$VHDFOLD" help nosuch
expect_rc 2 "help nosuch"
run "$VHDFOLD" -V
expect_rc 0 "vhdfold -V"
expect_match "$OUT" "^vhdfold [0-9]" "vhdfold -V"

# one number parser: 0x hex everywhere, the same chain for the same seed written two ways
"$VHDFOLD" gen --seed 0x10 --size 2M --depth 1 --progress none "$T/hex" >/dev/null
"$VHDFOLD" gen --seed 16 --size 2M --depth 1 --progress=none "$T/dec" >/dev/null
CHECKS=$((CHECKS + 1))
cmp -s "$T/hex/manifest.json" "$T/dec/manifest.json" || fail "gen --seed 0x10 differs from 16"
expect_eq "$(json_get "$(cat "$T/hex/manifest.json")" 'repr(j["seed"])')" "'16'" "gen --seed 0x10 is 16"
run "$VHDFOLD" gen --seed 0x1g "$T/bad"
expect_rc 2 "gen --seed 0x1g"
expect_eq "$ERR" "vhdfold gen: --seed: '0x1g' is not a number (see 'vhdfold gen --help')" \
  "gen --seed 0x1g message"
# a file option given something that looks like an option: refused, and no file made (conform
# once wrote its report to a file named --no-such-option)
cd "$T"
run "$VHDFOLD" conform --cases 0 --json --no-such-option
cd - >/dev/null
expect_rc 2 "conform --json --no-such-option"
CHECKS=$((CHECKS + 1))
[ ! -e "$T/--no-such-option" ] || fail "conform --json --no-such-option made a file"
run "$VHDFOLD" conform --seed 0x10 --cases 0
expect_rc 0 "conform --seed 0x10"
run "$VHDFOLD" conform --seed 18446744073709551616 --cases 0
expect_rc 2 "conform seed above 2^64-1"
expect_match "$ERR" "--seed: '18446744073709551616' is out of range \\(0\\.\\.18446744073709551615\\)" "conform seed message"
run "$VHDFOLD" gen --size 64 --depth 65 "$T/bad"
expect_match "$ERR" "^vhdfold gen: --depth: '65' is out of range \\(0\\.\\.64\\)" "gen --depth range"
run "$VHDFOLD" merge a.vhd b.vhd --batch-size
expect_rc 2 "merge --batch-size without a value"
expect_match "$ERR" "^vhdfold merge: --batch-size needs an argument \\(SIZE\\)" "missing argument"

# the generated man pages render without a warning
for page in vhdfold $(printf 'vhdfold-%s ' $commands); do
  f="$docs/man1/$page.1"
  CHECKS=$((CHECKS + 1))
  [ -s "$f" ] || { fail "no man page $f"; continue; }
  warn=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
  [ -z "$warn" ] || fail "man -l $page.1: $warn"
  expect_eq "$(MANWIDTH=80 man -l "$f" 2>/dev/null | head -1 | awk '{print $1}')" \
    "$(tr '[:lower:]' '[:upper:]' <<<"$page")(1)" "$page.1 title"
done
expect_match "$(MANWIDTH=80 man -l "$docs/man1/vhdfold-digest.1")" "--mode flat\\|tree" \
  "digest page lists --mode"

# the completion script loads and completes commands, options and choices
comp="$docs/completion/vhdfold"
complete_words() { # complete_words WORD... : COMPREPLY for the last word
  # shellcheck disable=SC2016
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vhdfold
           printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@"
}
expect_eq "$(bash -c 'source "$1"; complete -p vhdfold' _ "$comp")" \
  "complete -o bashdefault -o filenames -F _vhdfold vhdfold" "completion registered"
expect_eq "$(complete_words vhdfold dig)" "digest" "complete dig"
expect_eq "$(complete_words vhdfold digest --mode '')" "$(printf 'flat\ntree')" "complete --mode"
expect_eq "$(complete_words vhdfold digest --progress = pl)" "plain" "complete --progress=pl"
expect_eq "$(complete_words vhdfold merge --re)" "$(printf -- '--resume\n--remove-merged')" \
  "complete merge --re"
expect_eq "$(complete_words vhdfold help conf)" "conform" "complete help conf"
expect_eq "$(complete_words vhdfold set-p)" "set-parent" "complete set-p"
expect_eq "$(complete_words vhdfold set-parent --ig)" "--ignore-id-mismatch" "complete set-parent --ig"
expect_eq "$(complete_words vhdfold convert --format '')" "$(printf 'vhd\nvhdx\nraw')" \
  "complete convert --format (the formats and raw)"
expect_eq "$(complete_words vhdfold create --type '')" "$(printf 'fixed\ndynamic')" \
  "complete create --type"

echo "options.sh: $CHECKS checks, $FAILS failures"
[ "$FAILS" = 0 ]
