// crash_ops.h: the deterministic workload shared by crash_writer (the child) and crash_test.
#pragma once

#include <string>

#include "strata/codec/codec.h"
#include "strata/source/table_mapping.h"

namespace strata::testing {

inline constexpr int kCrashThreads = 4;
inline constexpr long kCrashKeysPerThread = 300;

inline std::string crash_key(int thread, long op) {
  return "t" + std::to_string(thread) + ":k" + std::to_string((op * 7) % kCrashKeysPerThread);
}
inline bool crash_is_erase(long op) {
  return op % 13 == 7;
}
inline std::string crash_value(long op) {
  return "v" + std::to_string(op);
}

inline TableMapping<std::string> crash_mapping(const std::string& table) {
  return TableMapping<std::string>::document<BytesCodec>(table, {}).create_table_if_missing();
}

}  // namespace strata::testing
