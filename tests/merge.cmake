# tests/merge.cmake - tests of the reference merger (merger/, cli/cmd_merge.c): unit tests of
# the journal and helpers, merges of generated chains, the crash/fault sweeps, refusals, and
# CLI scripts (7-Zip cross-check, locks, read-only destination, demo).
vf_add_unit_test(merge_journal
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_journal.c LIBS vf_merger)
vf_add_unit_test(merge
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge.c
          ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_util.c
  LIBS vf_merger vf_gen vf_verify)
target_include_directories(test_merge PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/merge)
vf_add_unit_test(merge_crash
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_crash.c
          ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_util.c
  LIBS vf_merger vf_gen vf_verify LABELS unit fault)
target_include_directories(test_merge_crash PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/merge)
vf_add_script_test(merge_cli ${CMAKE_CURRENT_SOURCE_DIR}/merge/cli_merge.sh LABELS cli)
vf_add_unit_test(merge_journal_trust
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_journal_trust.c
          ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_util.c
  LIBS vf_merger vf_gen vf_verify)
target_include_directories(test_merge_journal_trust PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/merge)
vf_add_script_test(merge_cli_journal ${CMAKE_CURRENT_SOURCE_DIR}/merge/cli_journal.sh LABELS cli)
vf_add_unit_test(merge_pending
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_pending.c
          ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_util.c
  LIBS vf_merger vf_gen vf_verify)
target_include_directories(test_merge_pending PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/merge)
vf_add_script_test(merge_cli_share ${CMAKE_CURRENT_SOURCE_DIR}/merge/cli_share.sh LABELS cli)
vf_add_unit_test(merge_writes
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_writes.c
          ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_util.c
  LIBS vf_merger vf_gen vf_verify)
target_include_directories(test_merge_writes PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/merge)
# issue 15: status codes and the job's progress model (unit), signals, every CLI status code
# and the --progress=json stream (scripts)
vf_add_unit_test(merge_status
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_status.c
          ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_util.c
  LIBS vf_merger vf_gen vf_verify)
target_include_directories(test_merge_status PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/merge)
vf_add_script_test(merge_cli_signal ${CMAKE_CURRENT_SOURCE_DIR}/merge/cli_signal.sh LABELS cli)
vf_add_script_test(merge_cli_status ${CMAKE_CURRENT_SOURCE_DIR}/merge/cli_status.sh LABELS cli)
vf_add_script_test(merge_progress_json ${CMAKE_CURRENT_SOURCE_DIR}/merge/progress_json.py LABELS cli)
vf_add_script_test(merge_cli_zeroed_block ${CMAKE_CURRENT_SOURCE_DIR}/merge/cli_zeroed_block.sh
  LABELS cli)
vf_add_script_test(merge_cli_tight_locator ${CMAKE_CURRENT_SOURCE_DIR}/merge/cli_tight_locator.sh
  LABELS cli)
# Reflinks on XFS and btrfs loop file systems (root, loop devices; skipped with 77 otherwise).
vf_add_script_test(merge_reflink ${CMAKE_CURRENT_SOURCE_DIR}/merge/reflink.sh LABELS cli reflink)
set_tests_properties(merge_reflink PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
