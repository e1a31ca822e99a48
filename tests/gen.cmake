# tests/gen.cmake - tests of the seeded chain generator (gen/, cli/cmd_gen.c).
# Unit: the model against brute force (no files); vf_gen_run on the memory fs read back
# through vf_chain. Scripts: the many-seed cross-check against `vhdfold digest` and 7-Zip
# (split in parts so ctest -j runs them side by side), pinned bytes, bounded memory, and
# refused options.
vf_add_unit_test(gen_model SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_gen_model.c
  LIBS vf_gen)
vf_add_unit_test(gen_run SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_gen_run.c
  LIBS vf_gen)

foreach(part 0 1 2 3)
  vf_add_script_test(gen_seeds_${part} ${CMAKE_CURRENT_SOURCE_DIR}/gen/seeds.py
    ARGS ${part} 4 LABELS cli slow)
endforeach()
vf_add_script_test(gen_pinned ${CMAKE_CURRENT_SOURCE_DIR}/gen/pinned.sh)
# --writes (a subset of the plan replayed) and --list-writes.
vf_add_script_test(gen_writes ${CMAKE_CURRENT_SOURCE_DIR}/gen/writes.sh)
if(VF_SANITIZE)
  set(_vf_gen_rss_mib 160) # ASan shadow memory and quarantine count as resident
else()
  set(_vf_gen_rss_mib 32)
endif()
vf_add_script_test(gen_memory ${CMAKE_CURRENT_SOURCE_DIR}/gen/memory.sh ARGS ${_vf_gen_rss_mib})
vf_add_script_test(gen_badopts ${CMAKE_CURRENT_SOURCE_DIR}/gen/badopts.sh)
vf_add_script_test(gen_dirty ${CMAKE_CURRENT_SOURCE_DIR}/gen/dirty.sh LABELS cli)
