#!/usr/bin/env bash
# agree.sh DOCS_DIR - the places that list the commands and their options agree with the
# option tables (issue 16 "Conventions"): the commands of `vhdfold help` are the rows of the
# README's command table, the `## vhdfold CMD` sections of docs/cli.md, the COMMANDS of the
# generated vhdfold.1, the man pages DOCS_DIR/man1/vhdfold-CMD.1 and the commands the bash
# completion offers; per command, the options of `CMD --help` are exactly those of its man
# page and of its completion, every option docs/cli.md's section or the README row names is
# one of them. Also: `vhdfold`, `vhdfold help`, `vhdfold --help`, -V/--version and, for every
# command, -h, --help, -V, --version and `vhdfold help CMD`.
# Environment: VHDFOLD, VF_SOURCE_DIR. Registered by tests/options.cmake.
# shellcheck source=tests/cli/verify_lib.sh
. "$(dirname "$0")/verify_lib.sh"
docs=${1:?usage: agree.sh DOCS_DIR}
readme="$VF_SOURCE_DIR/README.md"
clidoc="$VF_SOURCE_DIR/docs/cli.md"
comp="$docs/completion/vhdfold"

words() { tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' '; }

# --- the command lists ----------------------------------------------------------------------
run "$VHDFOLD" help
expect_rc 0 "vhdfold help"
help_out=$OUT
commands=$(printf '%s\n' "$OUT" | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' | tr '\n' ' ')
CHECKS=$((CHECKS + 1))
[ -n "$commands" ] || fail "vhdfold help lists no command"
sorted=$(words <<<"$commands")
run "$VHDFOLD" --help
expect_eq "$OUT" "$help_out" "vhdfold --help equals vhdfold help"
run "$VHDFOLD"
expect_rc 2 "vhdfold without a command"
expect_match "$ERR" "^usage: vhdfold COMMAND" "vhdfold without a command: usage on stderr"
for v in -V --version; do
  run "$VHDFOLD" "$v"
  expect_rc 0 "vhdfold $v"
  expect_match "$OUT" "^vhdfold [0-9]" "vhdfold $v"
done

readme_cmds=$(sed -n 's/^| `vhdfold \([a-z][a-z-]*\)[ `].*/\1/p' "$readme" | tr '\n' ' ')
expect_eq "$(words <<<"$readme_cmds")" "$sorted" "README command table lists the commands of vhdfold help"
cli_cmds=$(sed -n 's/^## vhdfold \([a-z][a-z-]*\)\( .*\)\?$/\1/p' "$clidoc" | tr '\n' ' ')
expect_eq "$(words <<<"$cli_cmds")" "$sorted" "docs/cli.md sections are the commands of vhdfold help"
man_cmds=$(awk '/^\.SH COMMANDS/ {on = 1; next} /^\.SH/ {on = 0} on && /^\.B / {print $2}' \
  "$docs/man1/vhdfold.1" | tr '\n' ' ')
expect_eq "$(words <<<"$man_cmds")" "$sorted" "vhdfold.1 COMMANDS are the commands of vhdfold help"
pages=$(cd "$docs/man1" && ls vhdfold-*.1 | sed 's/^vhdfold-\(.*\)\.1$/\1/' | tr '\n' ' ')
expect_eq "$(words <<<"$pages")" "$sorted" "a man page per command, no other"
comp_cmds=$(sed -n 's/^ *local commands="\(.*\)"$/\1/p' "$comp" | sed 's/ help$//')
expect_eq "$(words <<<"$comp_cmds")" "$sorted" "the completion offers the commands of vhdfold help"

# --- per command ----------------------------------------------------------------------------
# complete_opts CMD: what the completion offers after `vhdfold CMD --`
complete_opts() {
  # shellcheck disable=SC2016
  bash -c 'source "$1"; COMP_WORDS=(vhdfold "$2" --); COMP_CWORD=2; _vhdfold
           printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$1"
}
for cmd in $commands; do
  for h in -h --help; do
    run "$VHDFOLD" "$cmd" "$h"
    expect_rc 0 "$cmd $h"
    expect_match "$OUT" "^usage: vhdfold $cmd " "$cmd $h usage line"
  done
  help=$OUT
  run "$VHDFOLD" help "$cmd"
  expect_eq "$OUT" "$help" "vhdfold help $cmd equals $cmd --help"
  for v in -V --version; do
    run "$VHDFOLD" "$cmd" "$v"
    expect_rc 0 "$cmd $v"
    expect_match "$OUT" "^vhdfold $cmd [0-9]" "$cmd $v"
  done
  opts=$(printf '%s\n' "$help" | grep -o -- '^  \(-., \)\?--[a-z0-9-]*' | grep -o -- '--[a-z0-9-]*' |
    words)
  page="$docs/man1/vhdfold-$cmd.1"
  man_opts=$(awk '/^\.SH OPTIONS/ {on = 1; next} /^\.SH/ {on = 0} on' "$page" |
    grep -o '^\(\\fB\\-.\\fR, \)\?\\fB\\-\\-[a-z0-9\\-]*' | sed 's/.*\\fB\\-\\-/--/; s/\\f$//; s/\\-/-/g' | words)
  expect_eq "$man_opts" "$opts" "$cmd: the man page lists the options of --help"
  expect_eq "$(complete_opts "$cmd" | words)" "$opts" "$cmd: the completion offers the options of --help"
  section=$(awk -v c="## vhdfold $cmd" 'index($0, c) == 1 {on = 1; next} /^## / {on = 0} on' "$clidoc")
  for opt in $opts; do
    CHECKS=$((CHECKS + 1))
    grep -qF -- "\`$opt" <<<"$section" || fail "docs/cli.md: '## vhdfold $cmd' does not list $opt"
  done
  # every option the section or the README row names is a real one (words like --opt in code)
  row=$(grep "^| \`vhdfold $cmd[ \`]" "$readme" | cut -d'|' -f2)
  # ("has no `--force`" names an option the command lacks on purpose)
  for opt in $(printf '%s\n%s\n' "$section" "$row" | sed 's/no `--[a-z0-9-]*`//g' |
    grep -o -- '`--[a-z0-9-]*\|\[--[a-z0-9-]*' |
    grep -o -- '--[a-z0-9-]*' | words); do
    CHECKS=$((CHECKS + 1))
    grep -qx -- "$opt" < <(tr ' ' '\n' <<<"$opts") ||
      fail "$cmd: docs/cli.md or the README names $opt, which 'vhdfold $cmd --help' does not list"
  done
done

echo "agree.sh: $CHECKS checks, $FAILS failures"
[ "$FAILS" = 0 ]
