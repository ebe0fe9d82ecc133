#include "common/temp_dir.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>
#include <vector>

#include "strata/error.h"

namespace strata::tools {

TempDir::TempDir(const std::string& prefix) {
  const std::string pattern =
      (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    throw UnavailableError("cannot create a temporary directory from " + pattern + ": " +
                           std::strerror(errno));
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;  // a destructor must not throw; leftovers in $TMPDIR are harmless
  std::filesystem::remove_all(path_, ignored);
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<std::uint64_t> counter{0};
  static const unsigned salt = std::random_device{}() % 1'000'000;
  return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(salt) + "_" +
         std::to_string(counter.fetch_add(1));
}

}  // namespace strata::tools
