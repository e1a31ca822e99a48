# cmake/cli_docs.cmake - run as `cmake -DVHDFOLD=BIN -DOUT=DIR -P cli_docs.cmake` after the
# build: writes the man pages (DIR/man1/vhdfold.1, DIR/man1/vhdfold-CMD.1) and the bash
# completion script (DIR/completion/vhdfold) from the option tables inside the binary
# (`vhdfold --dump-man [CMD]`, `vhdfold --dump-completion`; cli/options_doc.c). The command
# list is read from `vhdfold --help`, so a new command needs no change here.
foreach(var VHDFOLD OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "cli_docs.cmake: -D${var}=... is required")
  endif()
endforeach()
file(MAKE_DIRECTORY ${OUT}/man1 ${OUT}/completion)

function(vf_dump out)
  execute_process(COMMAND ${VHDFOLD} ${ARGN} OUTPUT_FILE ${out} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cli_docs.cmake: '${VHDFOLD} ${ARGN}' failed (${rc})")
  endif()
endfunction()

execute_process(COMMAND ${VHDFOLD} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cli_docs.cmake: '${VHDFOLD} --help' failed (${rc})")
endif()
string(REGEX MATCHALL "\n  [a-z][a-z-]* " lines "${help}")
vf_dump(${OUT}/man1/vhdfold.1 --dump-man)
foreach(line ${lines})
  string(STRIP "${line}" cmd)
  vf_dump(${OUT}/man1/vhdfold-${cmd}.1 --dump-man ${cmd})
endforeach()
vf_dump(${OUT}/completion/vhdfold --dump-completion)
