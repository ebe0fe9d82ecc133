// crash_writer: the child process of the write-behind crash test (crash_test.cc). It runs
// WriteBehind under load until it is killed (SIGKILL), and prints one line "<thread> <op#>\n"
// to stdout after each write is acknowledged (one write(2) per line, atomic on a pipe).
//
//   crash_writer <journal dir> <sqlite:PATH | postgres:URL> <table> <every-write|interval|never>
//
// Thread t performs ops i = 0, 1, 2, ... in order: key crash_key(t, i); an erase when i % 13 ==
// 7, else a put of crash_value(i). The test recomputes the ops from the printed numbers.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "strata/write_behind/write_behind.h"
#include "write_behind/crash_ops.h"

namespace {

template <typename S>
int run(const std::string& dir, std::shared_ptr<S> source, const std::string& policy) {
  strata::WriteBehindOptions options;
  options.directory = dir;
  options.fsync = policy == "every-write" ? strata::FsyncPolicy::kEveryWrite
                  : policy == "never"
                      ? strata::FsyncPolicy::kNever
                      : strata::FsyncPolicy::kInterval(std::chrono::milliseconds(2));
  options.batch_size = 64;
  options.flush_interval = std::chrono::milliseconds(2);
  options.segment_bytes = 16 << 10;  // rotate and delete segments under load
  strata::WriteBehind<std::string, strata::BytesCodec> wb(options, source);
  std::vector<std::thread> threads;
  for (int t = 0; t < strata::testing::kCrashThreads; ++t) {
    threads.emplace_back([&wb, t] {
      for (long i = 0;; ++i) {
        const std::string key = strata::testing::crash_key(t, i);
        if (strata::testing::crash_is_erase(i)) {
          wb.erase(key);
        } else {
          wb.put(key, strata::testing::crash_value(i));
        }
        const std::string line = std::to_string(t) + " " + std::to_string(i) + "\n";
        if (::write(1, line.data(), line.size()) < 0) _exit(3);
      }
    });
  }
  for (auto& th : threads) th.join();  // never: the test kills us
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: crash_writer DIR sqlite:PATH|postgres:URL TABLE POLICY\n";
    return 2;
  }
  const std::string dir = argv[1], target = argv[2], table = argv[3], policy = argv[4];
  try {
    auto mapping = strata::testing::crash_mapping(table);
    if (target.rfind("sqlite:", 0) == 0) {
      return run(dir,
                 std::make_shared<strata::SqliteSource<std::string>>(
                     strata::SqliteOptions{.path = target.substr(7)}, mapping),
                 policy);
    }
    return run(dir,
               std::make_shared<strata::PostgresSource<std::string>>(
                   strata::PostgresOptions{.url = target.substr(9)}, mapping),
               policy);
  } catch (const std::exception& e) {
    std::cerr << "crash_writer: " << e.what() << '\n';
    return 1;
  }
}
