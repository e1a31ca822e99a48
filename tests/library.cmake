# tests/library.cmake - the library's contract with its callers: options structs that grow
# (docs/library.md "Growing structs").
vf_add_unit_test(opts_abi SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_opts_abi.c
  LIBS vf_merger vf_gen)
