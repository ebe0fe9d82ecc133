# Compiler warnings and sanitizer flags shared by every strata target.
add_library(strata_warnings INTERFACE)
target_compile_options(strata_warnings INTERFACE -Wall -Wextra -Werror -Wpedantic
                                                 $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>
                                                 -Wnon-virtual-dtor -Wimplicit-fallthrough)

if(STRATA_SANITIZE)
  if(NOT STRATA_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
    message(FATAL_ERROR "STRATA_SANITIZE must be 'address,undefined' or 'thread', got '${STRATA_SANITIZE}'")
  endif()
  add_compile_options(-fsanitize=${STRATA_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${STRATA_SANITIZE})
endif()

# libFuzzer targets (fuzz/): clang only. Instruments the whole build for coverage and ASan+UBSan.
# -fno-sanitize-recover=all turns every UBSan report into an abort, so the fuzzer stops on it and
# saves the input like a crash (without it UBSan prints "runtime error:" and carries on).
option(STRATA_BUILD_FUZZERS "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)
if(STRATA_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "STRATA_BUILD_FUZZERS needs clang: configure with CXX=clang++ "
                        "(got ${CMAKE_CXX_COMPILER_ID})")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=all -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
  add_link_options(-fsanitize=address,undefined)
endif()
