// Write-behind with batching (the textbook's exercise 2): a page-view counter service writes
// every view through Cache<PageViews> in write-behind mode. Each put is acknowledged once it is
// in the local journal; a flusher coalesces the writes per key (the last one wins) and writes
// them to the table in batches. Reads are served from the cache meanwhile.
//
// SQLite by default; `--postgres URL` puts the table in PostgreSQL, `--redis URL` adds Redis as
// L2 (redis:// or redis+cluster://).
//
//   ./build/examples/example_write_behind_batching
//   ./build/examples/example_write_behind_batching --postgres postgresql://localhost/app
#include <strata/cache/cache.h>
#include <strata/metrics/metrics.h>
#include <strata/source/postgres_source.h>
#include <strata/source/sqlite_source.h>
#include <strata/write_behind/write_behind.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "strata/codec/json.h"

struct PageViews {
  std::string path;
  std::int64_t views = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PageViews, path, views)

namespace {

using namespace std::chrono_literals;

struct Options {
  std::optional<std::string> redis_url;
  std::optional<std::string> postgres_url;
};

strata::TableMapping<PageViews> mapping(const std::string& table) {
  return strata::TableMapping<PageViews>::columns(
             table, "page",
             {strata::column("path", &PageViews::path), strata::column("views", &PageViews::views)})
      .create_table_if_missing();
}

// Runs the service over any source S (SqliteSource or PostgresSource of PageViews).
template <typename S>
int run(const Options& options, std::shared_ptr<S> table, const std::filesystem::path& dir) {
  // The write-behind journal: fsync every 5 ms (a put waits at most that long), batches of up
  // to 500 rows, a partial batch flushed after 20 ms.
  auto journal = std::make_shared<strata::WriteBehind<PageViews>>(
      strata::WriteBehindOptions{.directory = dir / "journal",
                                 .fsync = strata::FsyncPolicy::kInterval(5ms),
                                 .batch_size = 500,
                                 .flush_interval = 20ms},
      table);

  strata::CacheBuilder<PageViews> builder;
  builder.local({.maximum_size = 10'000, .ttl = 5min})
      .source(table)
      .write_mode(strata::WriteMode::kWriteBehind)
      .write_behind_sink(journal)
      .key_prefix("example:views:" + std::to_string(::getpid()) + ":");
  if (options.redis_url) builder.remote(strata::RedisClient(*options.redis_url), {.ttl = 10min});
  strata::Cache<PageViews> views = builder.build();

  strata::MetricsRegistry registry;
  registry.add_cache("page-views", views);
  registry.add_write_behind("page-views", journal);

  // 800 views over 24 pages, written by 8 threads, each counting its own 3 pages. Each put
  // waits for the fsync that covers it; the threads share those fsyncs (group commit).
  constexpr int kThreads = 8;
  constexpr int kPages = 24;
  constexpr int kViewsPerThread = 100;
  std::vector<std::int64_t> counts(kPages, 0);
  std::vector<std::thread> writers;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kViewsPerThread; ++i) {
        const int page = t + kThreads * (i % (kPages / kThreads));  // this thread's pages only
        const std::int64_t next = ++counts[static_cast<std::size_t>(page)];
        views.put("page-" + std::to_string(page), PageViews{"/page/" + std::to_string(page), next});
      }
    });
  }
  for (auto& w : writers) w.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Reads see the latest value at once, from the cache, before it reaches the table.
  const std::optional<PageViews> cached = views.get("page-3");
  journal->flush();
  const strata::WriteBehindStats s = journal->stats();
  const strata::MetricsSnapshot m = registry.snapshot();
  std::cout << "acknowledged " << s.acknowledged << " writes in " << seconds << " s; flushed "
            << s.flushed << " rows in " << s.batches << " batches (" << s.coalesced
            << " writes coalesced); queue depth now " << m.writer("page-views")->queue_depth
            << "\n";

  // Every page's row holds its last count.
  bool ok = cached && cached->views == counts[3] && s.acknowledged == kThreads * kViewsPerThread;
  for (int page = 0; page < kPages; ++page) {
    const auto row = table->load("page-" + std::to_string(page));
    if (!row || row->views != counts[page]) ok = false;
    table->erase("page-" + std::to_string(page));  // leave a shared database clean
  }
  journal->close();
  std::cout << (ok ? "write_behind_batching: OK\n" : "write_behind_batching: FAILED\n");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--redis" && i + 1 < argc) {
      options.redis_url = argv[++i];
    } else if (arg == "--postgres" && i + 1 < argc) {
      options.postgres_url = argv[++i];
    } else {
      std::cerr << "usage: " << argv[0] << " [--redis URL] [--postgres URL]\n";
      return 2;
    }
  }
  const auto dir =
      std::filesystem::temp_directory_path() / ("strata-example-wb-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  int status = 1;
  try {
    if (options.postgres_url) {
      status = run(
          options,
          std::make_shared<strata::PostgresSource<PageViews>>(
              strata::PostgresOptions{.url = *options.postgres_url}, mapping("example_page_views")),
          dir);
    } else {
      status = run(
          options,
          std::make_shared<strata::SqliteSource<PageViews>>(
              strata::SqliteOptions{.path = (dir / "views.db").string()}, mapping("page_views")),
          dir);
    }
  } catch (const strata::Error& e) {
    std::cerr << "write_behind_batching: " << e.what() << "\n";
  }
  std::filesystem::remove_all(dir);
  return status;
}
