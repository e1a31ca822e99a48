# VHD driver sources (format/vhd/), listed, not globbed.
set(VF_VHD_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/footer.c
  ${CMAKE_CURRENT_LIST_DIR}/header.c
  ${CMAKE_CURRENT_LIST_DIR}/bat.c
  ${CMAKE_CURRENT_LIST_DIR}/bitmap.c
  ${CMAKE_CURRENT_LIST_DIR}/locator.c
  ${CMAKE_CURRENT_LIST_DIR}/vhd.c
  ${CMAKE_CURRENT_LIST_DIR}/write.c
  ${CMAKE_CURRENT_LIST_DIR}/create.c
  ${CMAKE_CURRENT_LIST_DIR}/identity.c
  ${CMAKE_CURRENT_LIST_DIR}/check.c
  ${CMAKE_CURRENT_LIST_DIR}/reclaim.c
  ${CMAKE_CURRENT_LIST_DIR}/samples.c
  ${CMAKE_CURRENT_LIST_DIR}/repair.c
  ${CMAKE_CURRENT_LIST_DIR}/resize.c
  ${CMAKE_CURRENT_LIST_DIR}/resize_fixed.c
)
