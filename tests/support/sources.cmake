# Test support sources, listed.
set(VF_TEST_SUPPORT_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/io_fault.c
  ${CMAKE_CURRENT_LIST_DIR}/vhd_build.c
)
