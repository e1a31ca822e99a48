# VHDX driver sources (format/vhdx/), listed, not globbed.
set(VF_VHDX_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/driver.c
)
