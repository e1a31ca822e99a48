# tests/docs.cmake - the repository stands alone: every documentation file and section that
# code, scripts and docs cite exists (ci/check-doc-refs; convention in docs/design.md
# "Citing the documentation").
vf_add_script_test(doc_refs ${PROJECT_SOURCE_DIR}/ci/check-doc-refs ARGS ${PROJECT_SOURCE_DIR}
  LABELS docs)
