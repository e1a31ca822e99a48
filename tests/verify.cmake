# tests/verify.cmake - the verifier's tests: digest and compare engines (unit, on chains built
# in memory) and the read-side commands info, check, digest, export, compare (scripted CLI
# runs on qemu-made images and the real Windows images in VF_SHARED_DIR/corpus/real).
vf_add_unit_test(digest SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_digest.c LIBS vf_verify)
vf_add_unit_test(compare SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_compare.c LIBS vf_verify)

foreach(_vf_cli_case info check digest export compare corpus qemu parents)
  vf_add_script_test(cli_verify_${_vf_cli_case}
    ${CMAKE_CURRENT_LIST_DIR}/cli/verify_${_vf_cli_case}.sh)
endforeach()

# 200 seeds, each a VHD and a VHDX chain (every profile): flat and tree digests of every level
# equal the manifest, a hashlib tree digest of the export equals ours, compare finds one
# flipped byte at its offset, libvhdi agrees on 4 KiB-aligned VHD chains, and each chain is
# merged (--verify) with the result's digest, ours and 7-Zip's, equal to the manifest's.
vf_add_script_test(crosscheck ${CMAKE_CURRENT_LIST_DIR}/verify/crosscheck.py
  LABELS cli slow)
