# Every dependency comes from Debian 12's packages (scripts/install-deps.sh installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)  # TLS to Redis (strata's own transport, src/redis/connection.cc)
pkg_check_modules(hiredis REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(libpq REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(sqlite3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(libzstd REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(liblz4 REQUIRED IMPORTED_TARGET liblz4)
pkg_check_modules(httplib REQUIRED IMPORTED_TARGET cpp-httplib)  # MetricsServer
find_package(nlohmann_json 3.11 REQUIRED)
find_package(msgpack REQUIRED CONFIG)  # msgpack-cxx (header-only), target msgpackc-cxx
find_package(absl REQUIRED CONFIG)     # flat hash containers in LocalCache

if(STRATA_BUILD_TOOLS)
  find_package(CLI11 REQUIRED CONFIG)
  # `strata sim` reads gzip and xz traces.
  pkg_check_modules(zlib REQUIRED IMPORTED_TARGET zlib)
  pkg_check_modules(liblzma REQUIRED IMPORTED_TARGET liblzma)
endif()
if(STRATA_BUILD_TESTS)
  find_package(GTest REQUIRED CONFIG)
endif()
if(STRATA_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED CONFIG)
endif()
