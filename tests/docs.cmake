# tests/docs.cmake - the repository stands alone: every documentation file and section that
# code, scripts and docs cite exists (ci/check-doc-refs; convention in docs/design.md
# "Citing the documentation").
vf_add_script_test(doc_refs ${PROJECT_SOURCE_DIR}/ci/check-doc-refs ARGS ${PROJECT_SOURCE_DIR}
  LABELS docs)
# Every VF_API function is documented in its header: what it does, its errors, who owns what
# it hands out (docs/library.md "Rules every call follows").
vf_add_script_test(api_docs ${PROJECT_SOURCE_DIR}/ci/check-api-docs ARGS ${PROJECT_SOURCE_DIR}
  LABELS docs)
# No code above the drivers names a format (docs/design.md "Adding a format").
vf_add_script_test(format_names ${PROJECT_SOURCE_DIR}/ci/check-format-names
  ARGS ${PROJECT_SOURCE_DIR} LABELS docs)
