# tests/verify.cmake - the verifier's tests: digest and compare engines (unit, on chains built
# in memory) and the read-side commands info, check, digest, export, compare (scripted CLI
# runs on qemu-made images and the real Windows images in VF_SHARED_DIR/corpus/real).
vf_add_unit_test(digest SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_digest.c LIBS vf_verify)
vf_add_unit_test(compare SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_compare.c LIBS vf_verify)

foreach(_vf_cli_case info check digest export compare corpus qemu)
  vf_add_script_test(cli_verify_${_vf_cli_case}
    ${CMAKE_CURRENT_LIST_DIR}/cli/verify_${_vf_cli_case}.sh)
endforeach()
