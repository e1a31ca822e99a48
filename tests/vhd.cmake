# tests/vhd.cmake - the VHD driver (format/vhd/): one executable per module, plus the real
# Windows images and qemu-made images read back (label golden for those two).
vf_add_unit_test(vhd_open SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_open.c)
vf_add_unit_test(vhd_write SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_write.c)
vf_add_unit_test(vhd_real SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_real.c
  LIBS vf_verify LABELS unit golden)
# The helper gives unit tests no VF_SHARED_DIR; the real-image test needs it.
set_property(TEST vhd_real APPEND PROPERTY ENVIRONMENT "VF_SHARED_DIR=${VF_SHARED_DIR}")
vf_add_unit_test(vhd_footer SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_footer.c)
vf_add_unit_test(vhd_structs SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_structs.c)
vf_add_unit_test(vhd_locator SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_locator.c)
vf_add_unit_test(vhd_identity SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_identity.c)
vf_add_unit_test(vhd_check SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_check.c)
vf_add_unit_test(vhd_fault SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_fault.c LABELS unit fault)
# Map walk, reads and BAT memory of a 2040 GiB sparse image: counts, not times.
vf_add_unit_test(vhd_map SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_vhd_map.c)
# Both drivers' table entries (format/image.c): names, limits, features, block cost, fields.
vf_add_unit_test(formats SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_formats.c)
# crash sweeps over resize, VHD and VHDX (seconds: small images)
vf_add_unit_test(resize_crash SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_resize_crash.c
  LABELS unit fault)
