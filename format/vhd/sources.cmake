# VHD driver sources (format/vhd/), listed, not globbed.
set(VF_VHD_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/driver.c
)
