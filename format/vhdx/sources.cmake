# VHDX driver sources (format/vhdx/), listed, not globbed.
set(VF_VHDX_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/crc32c.c
  ${CMAKE_CURRENT_LIST_DIR}/header.c
  ${CMAKE_CURRENT_LIST_DIR}/region.c
  ${CMAKE_CURRENT_LIST_DIR}/log.c
  ${CMAKE_CURRENT_LIST_DIR}/metadata.c
  ${CMAKE_CURRENT_LIST_DIR}/locator.c
  ${CMAKE_CURRENT_LIST_DIR}/bat.c
  ${CMAKE_CURRENT_LIST_DIR}/bitmap.c
  ${CMAKE_CURRENT_LIST_DIR}/overlay.c
  ${CMAKE_CURRENT_LIST_DIR}/vhdx.c
  ${CMAKE_CURRENT_LIST_DIR}/write.c
  ${CMAKE_CURRENT_LIST_DIR}/create.c
  ${CMAKE_CURRENT_LIST_DIR}/check.c
  ${CMAKE_CURRENT_LIST_DIR}/resize.c
  ${CMAKE_CURRENT_LIST_DIR}/linkage2.c
)
