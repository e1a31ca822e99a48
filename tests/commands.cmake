# tests/commands.cmake - the commands that make or change images (issue 16): create,
# set-parent and convert on VHD and VHDX, read back by 7-Zip and qemu-img, and their refusals
# with nothing written (tests/cli/commands.sh CASE).
foreach(_vf_cmd_case create set-parent convert)
  vf_add_script_test(cli_cmd_${_vf_cmd_case} ${CMAKE_CURRENT_LIST_DIR}/cli/commands.sh
    ARGS ${_vf_cmd_case})
  set_tests_properties(cli_cmd_${_vf_cmd_case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
