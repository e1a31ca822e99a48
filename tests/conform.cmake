# tests/conform.cmake - the conformance runner (`vhdfold conform`, conform/conform*.c).
# runner: the runner's own logic against a stand-in tool (fast; also runs under ASan).
# broken: each deliberately broken merge in tests/conform/broken/ is caught within 50 cases.
# ours: our merger passes 60 generated VHD cases across profiles, depths and destinations
# (ci/conform runs the 200-case suite).
# The last two drive Python and many real merges, so they carry the slow label too.
vf_add_script_test(conform_runner ${CMAKE_CURRENT_SOURCE_DIR}/conform/runner.sh
  LABELS conform)
vf_add_script_test(conform_broken ${CMAKE_CURRENT_SOURCE_DIR}/conform/broken.sh
  LABELS conform slow)
vf_add_script_test(conform_ours ${CMAKE_CURRENT_SOURCE_DIR}/conform/ours.sh
  LABELS conform slow)
vf_add_unit_test(conform SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/conform/test_conform.c
  LIBS vf_conform vf_gen vf_verify)
# minimize: two broken merges of our own (crash-midway -> damage, drop-level -> digest) and
# --minimize shrinking the drop-level failure to a 2-level reproducer that works from scratch.
vf_add_script_test(conform_minimize ${CMAKE_CURRENT_SOURCE_DIR}/conform/minimize.sh
  LABELS conform)
# vhdutil_adapter: conform/adapters/vhd-util/coalesce.sh against a stand-in vhd-util (blktap's
# is not packaged for Debian): the fold from the top, refusals, no vhd-util, the model line.
vf_add_script_test(conform_vhdutil_adapter ${CMAKE_CURRENT_SOURCE_DIR}/conform/vhdutil_adapter.sh
  LABELS conform)
