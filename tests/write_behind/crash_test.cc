// The process-crash test: a child process (crash_writer) runs WriteBehind under load and prints
// every write after it is acknowledged; the test kills it with SIGKILL mid-run, opens the same
// journal directory (recovery replays what was not flushed), drains it, and reads every key back.
// A process crash, not a power loss: SIGKILL leaves the OS page cache intact, so this passes for
// FsyncPolicy::kNever exactly as for the others. What each policy's fsync promises is tested in
// write_behind_test.cc (WriteBehindTest.EachFsyncPolicyCoversWhatItPromisesWhenPutReturns).
//
// What is checked, key by key: let op c be the last printed (= acknowledged) op on the key. The
// row must be in the state op c left it in (its value for a put, absent for an erase), or in the
// state of a later op on the same key by the same thread that may have run before the kill
// (acknowledged but not yet printed, or in flight): an op number greater than c and at most two
// past the last op the thread printed. Each key belongs to one thread, so "later" is well
// defined. Nothing else is accepted: a missing row after an acknowledged put, an older value, or
// a resurrected row after an acknowledged erase all fail.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <random>
#include <sstream>

#include "source/pg_connection.h"
#include "source/schema.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "strata/write_behind/journal_inspect.h"
#include "support/test_servers.h"
#include "support/unique.h"
#include "write_behind/crash_ops.h"
#include "write_behind/wb_fixtures.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::crash_is_erase;
using testing::crash_key;
using testing::crash_value;
using testing::kCrashThreads;

// Runs crash_writer, lets it acknowledge at least `min_acks` writes, calls `while_alive` with its
// pid (when set), kills it, returns stdout.
std::string run_and_kill(const std::vector<std::string>& args, std::size_t min_acks,
                         const std::function<void(pid_t)>& while_alive = {}) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    std::string path = WB_CRASH_WRITER_PATH;
    argv.push_back(path.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(path.c_str(), argv.data());
    _exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buffer[1 << 16];
  const auto start = std::chrono::steady_clock::now();
  std::size_t lines = 0;
  // Read until enough acknowledgements and at least 300 ms of load (so the flusher, checkpoints
  // and segment deletions are running when the kill lands), or give up after 30 s.
  while (std::chrono::steady_clock::now() - start < 30s) {
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    lines += static_cast<std::size_t>(std::count(buffer, buffer + n, '\n'));
    if (lines >= min_acks && std::chrono::steady_clock::now() - start > 300ms) break;
  }
  if (while_alive) while_alive(pid);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "crash_writer exited by itself (status " << status << "): " << out.substr(0, 500);
  while (true) {  // what it printed before dying is still in the pipe
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  return out;
}

// Checks every printed acknowledgement against `load` (see the file comment).
template <typename S>
void check_acknowledged(const std::string& out, S& source, std::size_t min_acks) {
  std::vector<long> last_printed(kCrashThreads, -1);
  std::map<std::string, long> last_op;                        // key -> last printed op number
  std::istringstream in(out.substr(0, out.rfind('\n') + 1));  // drop a torn last line
  int t = 0;
  long i = 0;
  std::size_t acks = 0;
  while (in >> t >> i) {
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kCrashThreads);
    ASSERT_GT(i, last_printed[t]);  // a thread prints its ops in order
    last_printed[t] = i;
    last_op[crash_key(t, i)] = i;
    ++acks;
  }
  ASSERT_GE(acks, min_acks);
  std::size_t later = 0;
  std::size_t lost = 0;
  for (const auto& [key, c] : last_op) {
    const int thread = key[1] - '0';
    const auto row = source.load(key);
    const auto state_of = [](long op) {
      return crash_is_erase(op) ? std::optional<std::string>() : crash_value(op);
    };
    bool ok = row == state_of(c);
    for (long j = c + 1; !ok && j <= last_printed[thread] + 2; ++j) {
      if (crash_key(thread, j) == key && row == state_of(j)) {
        ok = true;
        ++later;
      }
    }
    if (!ok) ++lost;
    EXPECT_TRUE(ok) << key << ": last acknowledged op " << c << " ("
                    << (crash_is_erase(c) ? "erase" : crash_value(c)) << "), row holds "
                    << (row ? *row : "<none>");
  }
  std::cout << "crash test: " << acks << " acknowledged writes over " << last_op.size()
            << " keys checked row by row, " << lost << " lost, " << later
            << " keys hold a later unacknowledged write\n";
}

// Recovery: open the same directory, drain, close.
template <typename S>
RecoveryReport recover(const std::filesystem::path& dir, std::shared_ptr<S> source) {
  WriteBehindOptions options;
  options.directory = dir;
  options.flush_interval = 1ms;
  WriteBehind<std::string, BytesCodec> wb(options, source);
  wb.flush(60s);
  EXPECT_EQ(wb.stats().dead_lettered, 0u);
  wb.close(60s);
  return wb.recovery();
}

TEST(WriteBehindProcessCrash, SqliteNoAcknowledgedWriteLostOnSigkill) {
  for (const std::string policy : {"interval", "every-write", "never"}) {
    SCOPED_TRACE(policy);
    tools::TempDir dir("strata-wb-crash");
    const auto db = (dir.path() / "crash.db").string();
    const auto journal = dir.path() / "journal";
    const std::string out = run_and_kill({journal.string(), "sqlite:" + db, "crash", policy}, 3000);
    auto source = std::make_shared<SqliteSource<std::string>>(SqliteOptions{.path = db},
                                                              testing::crash_mapping("crash"));
    const auto report = recover(journal, source);
    std::cout << policy << ": recovery replayed " << report.records_replayed
              << " records after checkpoint " << report.checkpoint << ", "
              << report.truncations.size() << " torn tails\n";
    // The kill landed with writes past the checkpoint, so recovery had work to do (otherwise the
    // check below would only read rows the child had flushed itself).
    EXPECT_GT(report.records_replayed, 0u);
    check_acknowledged(out, *source, 3000);
  }
}

// A second process opening the live directory (an application instance, or `strata journal
// replay` run while the application runs) used to checkpoint and unlink the owner's live
// segment, losing what the owner acknowledged afterwards. Now it is refused with the owner's pid
// while the owner lives, read-only inspection works beside it, and after the owner's kill -9 the
// lock is stale and the next opener recovers every acknowledged write.
TEST(WriteBehindProcessCrash, ASecondProcessCannotOpenALiveJournalAndTheLockDiesWithTheOwner) {
  tools::TempDir dir("strata-wb-crash");
  const auto db = (dir.path() / "crash.db").string();
  const auto journal = dir.path() / "journal";
  auto source = std::make_shared<SqliteSource<std::string>>(SqliteOptions{.path = db},
                                                            testing::crash_mapping("crash"));
  bool refused = false;
  const std::string out =
      run_and_kill({journal.string(), "sqlite:" + db, "crash", "interval"}, 500, [&](pid_t pid) {
        WriteBehindOptions options;
        options.directory = journal;
        try {
          WriteBehind<std::string, BytesCodec> second(options, source);
          ADD_FAILURE() << "a second process opened the live journal";
        } catch (const JournalLockedError& e) {
          refused = true;
          EXPECT_EQ(e.holder_pid(), pid) << e.what();
          EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(pid)), std::string::npos)
              << e.what();
        }
        const JournalInspection j = inspect_journal(journal);  // beside the live owner
        EXPECT_EQ(j.lock_pid, pid);
        EXPECT_FALSE(j.segments.empty());
      });
  EXPECT_TRUE(refused);
  const auto report = recover(journal, source);  // the lock died with the owner
  std::cout << "lock: recovery after the owner's kill -9 replayed " << report.records_replayed
            << " records\n";
  check_acknowledged(out, *source, 500);
}

TEST(WriteBehindProcessCrash, PostgresNoAcknowledgedWriteLostOnSigkill) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  tools::TempDir dir("strata-wb-crash");
  const auto journal = dir.path() / "journal";
  const std::string table = testing::unique_name("strata_wb_crash");
  const std::string out =
      run_and_kill({journal.string(), "postgres:" + url, table, "interval"}, 2000);
  auto source = std::make_shared<PostgresSource<std::string>>(PostgresOptions{.url = url},
                                                              testing::crash_mapping(table));
  const auto report = recover(journal, source);
  std::cout << "postgres: recovery replayed " << report.records_replayed << " records\n";
  EXPECT_GT(report.records_replayed, 0u);
  check_acknowledged(out, *source, 2000);
  pg::Connection admin(url, std::chrono::seconds(5));
  (void)admin.exec("DROP TABLE IF EXISTS " + source::quote(table));
}

}  // namespace
}  // namespace strata
