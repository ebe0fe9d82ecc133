# Compiler warnings and sanitizer flags shared by every strata target.
add_library(strata_warnings INTERFACE)
target_compile_options(strata_warnings INTERFACE -Wall -Wextra -Werror -Wpedantic -Wshadow=local
                                                 -Wnon-virtual-dtor -Wimplicit-fallthrough)

if(STRATA_SANITIZE)
  if(NOT STRATA_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
    message(FATAL_ERROR "STRATA_SANITIZE must be 'address,undefined' or 'thread', got '${STRATA_SANITIZE}'")
  endif()
  add_compile_options(-fsanitize=${STRATA_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${STRATA_SANITIZE})
endif()
