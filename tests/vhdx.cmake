# tests/vhdx.cmake - the VHDX driver (format/vhdx/): unit tests over in-memory images, the
# bad-input table, and a script test against the real corpus and qemu-img / 7-Zip.
vf_add_unit_test(vhdx_driver SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhdx_driver.c)
vf_add_unit_test(vhdx_bad SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhdx_bad.c)
vf_add_unit_test(vhdx_locator SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhdx_locator.c)
vf_add_unit_test(vhdx_interop SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhdx_interop.c
  LIBS vf_verify LABELS golden)
set_property(TEST vhdx_interop APPEND PROPERTY ENVIRONMENT "VF_SHARED_DIR=${VF_SHARED_DIR}")
vf_add_unit_test(vhdx_crash SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhdx_crash.c
  LABELS unit fault)
vf_add_unit_test(vhdx_map SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhdx_map.c)
vf_add_unit_test(vhdx_log
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhdx_log.c
          ${CMAKE_CURRENT_LIST_DIR}/unit/test_merge_util.c
  LIBS vf_merger vf_gen vf_verify)
target_include_directories(test_vhdx_log PRIVATE ${CMAKE_CURRENT_LIST_DIR}/merge)
vf_add_unit_test(image_bounds SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_image_bounds.c)
vf_add_unit_test(vhdx_move SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhdx_move.c
  LABELS unit fault)
