# tests/chain.cmake - chain resolution and flattened reads (format/chain.c), on chains built in
# a memory file system with the VHD and VHDX drivers, plus the real images of the shared
# corpus (VF_SHARED_DIR; those cases skip when the corpus is absent).
vf_add_unit_test(chain SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_chain.c LIBS OpenSSL::Crypto)
set_property(TEST chain APPEND PROPERTY ENVIRONMENT "VF_SHARED_DIR=${VF_SHARED_DIR}")
