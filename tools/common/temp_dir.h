// temp_dir.h: a directory under $TMPDIR that is removed with everything in it on destruction.
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

}  // namespace strata::tools
