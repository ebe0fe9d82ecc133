// common/temp_dir.h: temporary names and directories for the commands and their tests: a
// directory under $TMPDIR removed with everything in it on destruction, and names (tables, key
// prefixes) that no other process picks.
//
//   strata::tools::TempDir dir("strata-bench");   // dir.path() / "bench.db"
//   const std::string table = strata::tools::unique_name("strata_bench");  //
//   strata_bench_<pid>_<n>
#pragma once

#include <filesystem>
#include <string>

namespace strata::tools {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "strata");
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// "<prefix>_<pid>_<random>": unique across processes and across calls in one process.
[[nodiscard]] std::string unique_name(const std::string& prefix);

}  // namespace strata::tools
