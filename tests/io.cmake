# tests/io.cmake - the I/O layer: POSIX and memory backends, the memory file system, path
# helpers, and the fault-injecting wrapper of tests/support.
vf_add_unit_test(io SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_io.c)
vf_add_unit_test(fault SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_fault.c LABELS unit fault)
vf_add_unit_test(io_copy SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_io_copy.c)
