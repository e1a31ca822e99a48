# libvhdfold: every layer's objects (format, verify, gen, merger) linked into one library,
# built both ways from the same position-independent objects: vhdfold_shared
# (libvhdfold.so.MAJOR, only VF_API symbols exported) and vhdfold_static (libvhdfold.a).
# Our tests and harnesses link the static one (they may reach internals); the programs link
# vf_program_lib, the shared library unless VF_PROGRAMS_STATIC is ON.

# What every object of the library is compiled with.
add_library(vf_lib_common INTERFACE)
target_include_directories(vf_lib_common INTERFACE ${PROJECT_SOURCE_DIR}/include
  ${PROJECT_SOURCE_DIR}/include/vhdfold ${PROJECT_BINARY_DIR}/include ${PROJECT_SOURCE_DIR}/format)
target_compile_definitions(vf_lib_common INTERFACE _GNU_SOURCE VF_BUILDING_LIBRARY=1)
target_link_libraries(vf_lib_common INTERFACE OpenSSL::Crypto PkgConfig::JANSSON Threads::Threads
  vf_sanitize)
if(VF_FUZZ_SKIP_CHECKSUMS)
  target_compile_definitions(vf_lib_common INTERFACE VF_FUZZ_SKIP_CHECKSUMS=1)
endif()
foreach(_vf_obj vf_format_obj vf_verify_obj vf_gen_obj vf_merger_obj)
  set_target_properties(${_vf_obj} PROPERTIES C_VISIBILITY_PRESET hidden
    POSITION_INDEPENDENT_CODE ON)
endforeach()

configure_file(${PROJECT_SOURCE_DIR}/cmake/vf_version.h.in
  ${PROJECT_BINARY_DIR}/include/vhdfold/vf_version.h @ONLY)

set(VF_LIB_OBJECTS $<TARGET_OBJECTS:vf_format_obj> $<TARGET_OBJECTS:vf_verify_obj>
  $<TARGET_OBJECTS:vf_gen_obj> $<TARGET_OBJECTS:vf_merger_obj>)
set(VF_LIB_INCLUDES $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

add_library(vhdfold_shared SHARED ${VF_LIB_OBJECTS})
set_target_properties(vhdfold_shared PROPERTIES OUTPUT_NAME vhdfold EXPORT_NAME vhdfold
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
target_include_directories(vhdfold_shared PUBLIC ${VF_LIB_INCLUDES})
target_link_libraries(vhdfold_shared PRIVATE OpenSSL::Crypto PkgConfig::JANSSON Threads::Threads
  vf_sanitize)
target_link_options(vhdfold_shared PRIVATE -Wl,--no-undefined)

add_library(vhdfold_static STATIC ${VF_LIB_OBJECTS})
set_target_properties(vhdfold_static PROPERTIES OUTPUT_NAME vhdfold EXPORT_NAME vhdfold_static)
target_include_directories(vhdfold_static PUBLIC ${VF_LIB_INCLUDES})
target_link_libraries(vhdfold_static PUBLIC OpenSSL::Crypto Threads::Threads
  $<BUILD_INTERFACE:PkgConfig::JANSSON> $<INSTALL_INTERFACE:jansson> $<BUILD_INTERFACE:vf_sanitize>)
target_compile_definitions(vhdfold_static INTERFACE $<BUILD_INTERFACE:_GNU_SOURCE>)
if(VF_FUZZ_SKIP_CHECKSUMS)
  target_compile_definitions(vhdfold_static PUBLIC VF_FUZZ_SKIP_CHECKSUMS=1)
endif()

add_library(vhdfold::vhdfold ALIAS vhdfold_shared)
add_library(vhdfold::vhdfold_static ALIAS vhdfold_static)

option(VF_PROGRAMS_STATIC "link the vhdfold program with the static library" OFF)
add_library(vf_program_lib INTERFACE)
if(VF_PROGRAMS_STATIC)
  target_link_libraries(vf_program_lib INTERFACE vhdfold_static)
else()
  target_link_libraries(vf_program_lib INTERFACE vhdfold_shared)
endif()
