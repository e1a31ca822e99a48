# tests/cmds.cmake - the disk-management commands map, repair and resize, and the commands
# taking several FILEs (scripted CLI runs on images the tests make; qemu-img and 7-Zip as the
# independent readers).
foreach(_vf_cmd_case map repair resize multi)
  vf_add_script_test(cli_cmd_${_vf_cmd_case} ${CMAKE_CURRENT_LIST_DIR}/cli/cmd_${_vf_cmd_case}.sh)
  set_tests_properties(cli_cmd_${_vf_cmd_case} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
