// common/bench_row.h: the row the write benches (`strata bench source`, `strata bench
// write-behind`) write: a table of (id, name, email, version), its mapping for strata's sources,
// the rows of one round and their COPY fields for the raw bulk baseline.
//
//   auto source = std::make_shared<strata::SqliteSource<strata::tools::BenchRow>>(
//       strata::SqliteOptions{.path = path}, strata::tools::bench_row_mapping("rows"));
//   source->write_batch(strata::tools::make_bench_rows(1000));
#pragma once

#include <cstdint>
#include <msgpack.hpp>
#include <string>
#include <vector>

#include "strata/source/source.h"
#include "strata/source/table_mapping.h"

namespace strata::tools {

struct BenchRow {
  std::string name;
  std::string email;
  std::int64_t version = 0;
  friend bool operator==(const BenchRow&, const BenchRow&) = default;
  MSGPACK_DEFINE(name, email, version)
};

// The table (created if missing): id (the key), name, email, version.
[[nodiscard]] inline TableMapping<BenchRow> bench_row_mapping(const std::string& table) {
  return TableMapping<BenchRow>::columns(
             table, "id",
             {column("name", &BenchRow::name), column("email", &BenchRow::email),
              column("version", &BenchRow::version)})
      .create_table_if_missing();
}

// Rows "row:0".. "row:<n-1>" of round `round`: versions differ per round, so a row left over
// from another round is caught when the table is read back.
[[nodiscard]] inline std::vector<KeyValue<BenchRow>> make_bench_rows(std::uint64_t n,
                                                                     std::uint64_t round = 0) {
  std::vector<KeyValue<BenchRow>> rows;
  rows.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    rows.emplace_back("row:" + std::to_string(i),
                      BenchRow{"row " + std::to_string(i), "r" + std::to_string(i) + "@example.com",
                               static_cast<std::int64_t>(round * 1'000'000 + i)});
  }
  return rows;
}

// The columns and the text fields of `rows` for RawPostgres::copy_rows.
[[nodiscard]] inline std::vector<std::string> bench_row_columns() {
  return {"id", "name", "email", "version"};
}
[[nodiscard]] inline std::vector<std::vector<std::string>> bench_row_fields(
    const std::vector<KeyValue<BenchRow>>& rows) {
  std::vector<std::vector<std::string>> fields;
  fields.reserve(rows.size());
  for (const auto& [key, row] : rows) {
    fields.push_back({key, row.name, row.email, std::to_string(row.version)});
  }
  return fields;
}

}  // namespace strata::tools
