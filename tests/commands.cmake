# tests/commands.cmake - the commands that make or change images (issue 16): create,
# set-parent and convert on VHD and VHDX, read back by 7-Zip and qemu-img, and their refusals
# with nothing written (tests/cli/commands.sh CASE).
foreach(_vf_cmd_case create set-parent convert)
  vf_add_script_test(cli_cmd_${_vf_cmd_case} ${CMAKE_CURRENT_LIST_DIR}/cli/commands.sh
    ARGS ${_vf_cmd_case})
  set_tests_properties(cli_cmd_${_vf_cmd_case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()

# The LD_PRELOAD shim that corrupts one write of convert's temporary file, so the test sees
# the verification refuse it (tests/support/flip_write.c). Built plain: no sanitizer
# runtime may come before it (the test skips that case in sanitizer builds).
add_library(vf_flip_write MODULE ${CMAKE_CURRENT_LIST_DIR}/support/flip_write.c)
target_link_libraries(vf_flip_write PRIVATE ${CMAKE_DL_LIBS} vf_warnings)
set_property(TEST cli_cmd_convert APPEND PROPERTY ENVIRONMENT
  "VF_FLIP_SHIM=$<TARGET_FILE:vf_flip_write>")
