# tests/nbd.cmake - the nbdkit plugin (plugin/, docs/nbd.md) driven by real nbdkit and real
# clients (nbdcopy, nbdinfo, nbdsh, qemu-img) on Unix sockets; label nbd. Each script exits 77
# (skipped) when a tool is missing; ci/bootstrap installs them.
if(NOT TARGET nbdkit_vhdfold_plugin)
  message(STATUS "tests/nbd: the nbdkit plugin is not built; its tests are not registered")
  return()
endif()
# A sanitized libvhdfold loads into the uninstrumented nbdkit only with the sanitizer runtimes
# preloaded (NBD_PRELOAD, used by nbd_lib.sh for nbdkit alone); gcc names them.
set(_vf_nbd_preload "")
foreach(_vf_san ${VF_SANITIZE})
  set(_vf_rt "")
  if(_vf_san STREQUAL "address")
    set(_vf_rt libasan.so)
  elseif(_vf_san STREQUAL "undefined")
    set(_vf_rt libubsan.so)
  endif()
  if(_vf_rt)
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${_vf_rt}
      OUTPUT_VARIABLE _vf_path OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT IS_ABSOLUTE "${_vf_path}" OR NOT EXISTS "${_vf_path}")
      message(STATUS "tests/nbd: no ${_vf_rt} to preload into nbdkit; tests not registered")
      return()
    endif()
    string(APPEND _vf_nbd_preload "${_vf_nbd_preload_sep}${_vf_path}")
    set(_vf_nbd_preload_sep ":")
  endif()
endforeach()
foreach(_vf_nbd_case read parallel write crash hostile boot fuse)
  vf_add_script_test(nbd_${_vf_nbd_case} ${CMAKE_CURRENT_LIST_DIR}/nbd/nbd_${_vf_nbd_case}.sh
    LABELS nbd ARGS $<TARGET_FILE:nbdkit_vhdfold_plugin>)
  set_tests_properties(nbd_${_vf_nbd_case} PROPERTIES SKIP_RETURN_CODE 77)
  if(_vf_nbd_preload)
    set_property(TEST nbd_${_vf_nbd_case} APPEND PROPERTY ENVIRONMENT
      "NBD_PRELOAD=${_vf_nbd_preload}")
  endif()
endforeach()
