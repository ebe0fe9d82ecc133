// ops_test_support.h: what the operator-command suites share: an application value type with
// JSON and MessagePack codecs and a typed table mapping, the CLI flags that describe the same
// table, and a runner for `strata ...` that returns the exit status and stdout.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "strata/source/table_mapping.h"
#include "support/run_command.h"
#include "support/unique.h"

namespace strata::testing {

// What the application caches.
struct Account {
  std::string name;
  std::int64_t version = 0;
  double balance = 0;
  friend bool operator==(const Account&, const Account&) = default;
  MSGPACK_DEFINE(name, version, balance)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Account, name, version, balance)

inline TableMapping<Account> account_mapping(const std::string& table) {
  return TableMapping<Account>::columns(
             table, "id",
             {column("name", &Account::name), column("version", &Account::version),
              column("balance", &Account::balance)})
      .create_table_if_missing();
}

// The CLI flags describing account_mapping(table).
inline std::string account_flags(const std::string& table) {
  return " --table " + table +
         " --key-column id --column name:text --column version:int64 --column balance:double";
}

// Runs `strata ARGS`; stdout only unless ARGS ends with 2>&1.
inline CommandResult strata_run(const std::string& args) {
  return run_command(strata_cli() + " " + args);
}

// Runs `strata ARGS --json`, expects exit status `want_exit`, returns the parsed output.
inline nlohmann::json strata_json(const std::string& args, int want_exit = 0) {
  const CommandResult r = strata_run(args + " --json");
  EXPECT_EQ(r.exit_code, want_exit) << args << "\n" << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << args << "\n" << r.output;
  return j;
}

}  // namespace strata::testing
