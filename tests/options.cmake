# tests/options.cmake - the declarative option parser of the CLI (cli/options.c, options.h):
# unit tests of the parser and number parsers against a test table, and a script running every
# command's help, usage errors, the generated man pages and the bash completion.
vf_add_unit_test(options
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_options.c ${PROJECT_SOURCE_DIR}/cli/options.c
    ${PROJECT_SOURCE_DIR}/cli/options_doc.c
  LIBS vf_gen vf_verify PkgConfig::JANSSON)
target_include_directories(test_options PRIVATE ${PROJECT_SOURCE_DIR}/cli)
vf_add_script_test(cli_options ${CMAKE_CURRENT_LIST_DIR}/cli/options.sh
  ARGS ${PROJECT_BINARY_DIR}/cli/docs)
# every command's --json output against docs/schemas/<command>.schema.json (docs/json.md); the
# commands come from `vhdfold help`, so a new command without a schema or a test row fails here
vf_add_script_test(cli_json_schema ${CMAKE_CURRENT_LIST_DIR}/cli/json_schema.py)
set_tests_properties(cli_json_schema PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
# README's command table, docs/cli.md, the man pages and the completion list the same commands
# and options as the option tables (tests/cli/agree.sh)
vf_add_script_test(cli_agree ${CMAKE_CURRENT_LIST_DIR}/cli/agree.sh
  ARGS ${PROJECT_BINARY_DIR}/cli/docs)
