# tests/nbd.cmake - the nbdkit plugin (plugin/, docs/nbd.md) driven by real nbdkit and real
# clients (nbdcopy, nbdinfo, nbdsh, qemu-img) on Unix sockets; label nbd. Each script exits 77
# (skipped) when a tool is missing; ci/bootstrap installs them.
if(NOT TARGET nbdkit_vhdfold_plugin)
  message(STATUS "tests/nbd: the nbdkit plugin is not built; its tests are not registered")
  return()
endif()
if(VF_SANITIZE)
  # The sanitized library cannot be loaded into an uninstrumented nbdkit.
  message(STATUS "tests/nbd: not registered in a sanitizer build (VF_SANITIZE)")
  return()
endif()
add_executable(nbd_chain_map ${CMAKE_CURRENT_LIST_DIR}/nbd/chain_map.c)
target_link_libraries(nbd_chain_map PRIVATE vhdfold_shared vf_warnings)
foreach(_vf_nbd_case read parallel write crash hostile)
  vf_add_script_test(nbd_${_vf_nbd_case} ${CMAKE_CURRENT_LIST_DIR}/nbd/nbd_${_vf_nbd_case}.sh
    LABELS nbd ARGS $<TARGET_FILE:nbdkit_vhdfold_plugin> $<TARGET_FILE:nbd_chain_map>)
  set_tests_properties(nbd_${_vf_nbd_case} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
