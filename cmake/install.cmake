# Install: libvhdfold (shared, with its SONAME link, and static) with its public headers, an
# export set (find_package(vhdfold) gives vhdfold::vhdfold and vhdfold::vhdfold_static), a
# pkg-config file, and the CLI. Components: runtime (library, program), development.
include(CMakePackageConfigHelpers)
install(TARGETS vhdfold_shared EXPORT vhdfoldTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS vhdfold_static EXPORT vhdfoldTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(DIRECTORY include/vhdfold DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT development)
install(FILES ${PROJECT_BINARY_DIR}/include/vhdfold/vf_version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vhdfold COMPONENT development)
install(TARGETS vhdfold RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(EXPORT vhdfoldTargets NAMESPACE vhdfold:: FILE vhdfoldTargets.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vhdfold)
configure_package_config_file(cmake/vhdfoldConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/vhdfoldConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vhdfold)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/vhdfoldConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vhdfoldConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/vhdfoldConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vhdfold)
# The .pc file locates the prefix relative to itself, so an installed tree can be moved
# (and the install-check can install into a temporary folder).
file(RELATIVE_PATH VF_PC_PREFIX_REL "/_/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/_")
configure_file(cmake/vhdfold.pc.in ${CMAKE_CURRENT_BINARY_DIR}/vhdfold.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vhdfold.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
