# Warning, sanitizer and coverage flags live on INTERFACE targets linked PRIVATE, so they
# never leak into projects that use vhdfold::format.
add_library(vf_warnings INTERFACE)
target_compile_options(vf_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes
  -Wmissing-prototypes -Wimplicit-fallthrough -Wcast-qual)
if(VF_WERROR)
  target_compile_options(vf_warnings INTERFACE -Werror)
endif()

# Stricter set for the core library: every narrowing conversion is explicit there.
add_library(vf_warnings_strict INTERFACE)
target_link_libraries(vf_warnings_strict INTERFACE vf_warnings)
target_compile_options(vf_warnings_strict INTERFACE -Wconversion -Wsign-conversion)

add_library(vf_sanitize INTERFACE)
if(VF_SANITIZE)
  string(REPLACE ";" "," _vf_san "${VF_SANITIZE}")
  target_compile_options(vf_sanitize INTERFACE -fsanitize=${_vf_san} -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_link_options(vf_sanitize INTERFACE -fsanitize=${_vf_san})
endif()
if(VF_COVERAGE)
  target_compile_options(vf_sanitize INTERFACE --coverage -O0)
  target_link_options(vf_sanitize INTERFACE --coverage)
endif()
