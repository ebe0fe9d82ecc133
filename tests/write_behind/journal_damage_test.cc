// The write-behind journal under careless operators and damaged disks (issue 16, items 1-3):
//  - one owner per directory: a second WriteBehind on a live directory is refused with
//    JournalLockedError naming the holder's pid, and read-only inspection beside the owner
//    changes no byte;
//  - damage in the middle of a segment, in its header or in the dead-letter file loses only the
//    damaged records: the rest is recovered, the bad bytes quarantined and reported; a
//    randomized test flips, overwrites and truncates bytes across thousands of trials;
//  - the checkpoint is written in place (a full disk does not stop it), and a failing checkpoint
//    write is reported by flush() and close() instead of leaving a restart to replay flushed
//    records over newer changes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>

#include "strata/write_behind/journal_inspect.h"
#include "write_behind/journal.h"
#include "write_behind/wb_fixtures.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::map_source;
using testing::MapState;
using testing::StringWriteBehind;
using testing::test_options;
namespace wbj = strata::write_behind;
namespace fs = std::filesystem;

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Every file of a directory: name -> contents (what "changes nothing" compares).
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    out[e.path().filename().string()] = wbj::read_file(e.path());
  }
  return out;
}

std::shared_ptr<MapState> down_state() {
  auto state = std::make_shared<MapState>();
  state->hook = [](const std::vector<std::string>&) { throw UnavailableError("down"); };
  return state;
}

// ---- item 1: one owner per directory ---------------------------------------------------------

TEST(JournalLock, ASecondWriteBehindInTheSameProcessIsRefusedNamingThePid) {
  tools::TempDir dir("strata-wb-lock");
  auto state = std::make_shared<MapState>();
  {
    StringWriteBehind owner(test_options(dir.path()), map_source(state));
    owner.put("a", "1");
    const auto before = snapshot(dir.path());
    try {
      StringWriteBehind second(test_options(dir.path()), map_source(state));
      FAIL() << "a second writer opened a live journal";
    } catch (const JournalLockedError& e) {
      EXPECT_EQ(e.holder_pid(), ::getpid());
      EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
      EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(::getpid())), std::string::npos)
          << e.what();
      EXPECT_EQ(e.directory(), dir.path());
    }
    EXPECT_EQ(snapshot(dir.path()), before);  // the refused opener touched nothing
    owner.put("b", "2");                      // and the owner goes on
    owner.flush(5s);
  }
  // Released with the owner: the next one opens.
  StringWriteBehind next(test_options(dir.path()), map_source(state));
  EXPECT_EQ(next.recovery().records_replayed, 0u);
  EXPECT_EQ(state->get("b"), "2");
}

TEST(JournalLock, ReadOnlyInspectionBesideALiveOwnerChangesNothing) {
  tools::TempDir dir("strata-wb-lock");
  auto state = down_state();
  {  // a first run leaves two pending records for the owner
    StringWriteBehind wb(test_options(dir.path()), map_source(state));
    wb.put("a", "1");
    wb.put("b", "2");
    EXPECT_THROW(wb.close(10ms), TimeoutError);
  }
  StringWriteBehind owner(test_options(dir.path()), map_source(state));
  owner.put("c", "3");
  {  // an unflushed tail the owner is "writing"
    std::ofstream out(wbj::list_segments(dir.path()).back().second,
                      std::ios::binary | std::ios::app);
    out << std::string("\x40\x00\x00", 3);
  }
  const auto before = snapshot(dir.path());
  const JournalInspection j = inspect_journal(dir.path());
  EXPECT_EQ(j.lock_pid, ::getpid());
  std::size_t records = 0;
  for (const auto& s : j.segments) records += s.records.size();
  EXPECT_EQ(records, 3u);
  EXPECT_TRUE(j.damaged());  // the torn tail
  (void)inspect_dead_letters(dir.path());
  EXPECT_EQ(snapshot(dir.path()), before);
}

// ---- item 2: damage is skipped, never a reason to cut intact records --------------------------

struct Segment {
  fs::path path;
  std::string bytes;
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // (offset, size) per record
};

// A segment of `n` records k0..k<n-1> written by a WriteBehind whose source is down.
Segment write_records(const fs::path& dir, int n) {
  auto state = down_state();
  {
    StringWriteBehind wb(test_options(dir), map_source(state));
    for (int i = 0; i < n; ++i) wb.put("k" + std::to_string(i), "value-" + std::to_string(i));
    EXPECT_THROW(wb.close(10ms), TimeoutError);
  }
  Segment s;
  s.path = wbj::list_segments(dir).at(0).second;
  s.bytes = wbj::read_file(s.path);
  std::size_t at = wbj::kFileMagic.size();
  while (at < s.bytes.size()) {
    const auto d = wbj::decode_record(std::string_view(s.bytes).substr(at), nullptr);
    EXPECT_EQ(d.status, wbj::Decoded::Status::kOk);
    s.spans.emplace_back(at, d.size);
    at += d.size;
  }
  EXPECT_EQ(s.spans.size(), static_cast<std::size_t>(n));
  return s;
}

TEST(JournalDamage, ADamagedRecordInTheMiddleIsSkippedQuarantinedAndReported) {
  tools::TempDir dir("strata-wb-damage");
  const Segment seg = write_records(dir.path(), 5);
  std::string damaged = seg.bytes;
  const auto [bad_at, bad_size] = seg.spans[1];
  damaged[bad_at + 20] = static_cast<char>(damaged[bad_at + 20] ^ 0x10);
  spit(seg.path, damaged);
  // Verify (read-only) sees it first.
  const JournalInspection j = inspect_journal(dir.path());
  ASSERT_EQ(j.segments.size(), 1u);
  EXPECT_EQ(j.segments[0].records.size(), 4u);
  ASSERT_EQ(j.segments[0].damaged.size(), 1u);
  EXPECT_EQ(j.segments[0].damaged[0].offset, bad_at);
  EXPECT_EQ(j.segments[0].damaged[0].bytes, bad_size);
  EXPECT_TRUE(j.damaged());
  EXPECT_EQ(wbj::read_file(seg.path), damaged);

  auto state = std::make_shared<MapState>();
  std::vector<std::string> log;
  auto options = test_options(dir.path());
  options.log = [&](const std::string& line) { log.push_back(line); };
  {
    StringWriteBehind wb(options, map_source(state));
    const auto& rec = wb.recovery();
    EXPECT_EQ(rec.records_replayed, 4u);
    EXPECT_TRUE(rec.truncations.empty());
    ASSERT_EQ(rec.damaged.size(), 1u);
    EXPECT_EQ(rec.damaged[0].file, seg.path.string());
    EXPECT_EQ(rec.damaged[0].offset, bad_at);
    EXPECT_EQ(rec.damaged[0].bytes, bad_size);
    EXPECT_NE(rec.damaged[0].reason.find("checksum"), std::string::npos) << rec.damaged[0].reason;
    EXPECT_EQ(wbj::read_file(rec.damaged[0].quarantine), damaged.substr(bad_at, bad_size));
    EXPECT_EQ(wb.stats().damaged_ranges, 1u);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_NE(log[0].find("offset " + std::to_string(bad_at)), std::string::npos) << log[0];
    wb.flush(5s);
  }
  for (int i : {0, 2, 3, 4}) {
    EXPECT_EQ(state->get("k" + std::to_string(i)), "value-" + std::to_string(i)) << i;
  }
  EXPECT_EQ(state->get("k1"), std::nullopt);
  // The segment was rewritten with its intact records: the next start reports nothing again.
  log.clear();
  StringWriteBehind again(options, map_source(state));
  EXPECT_TRUE(again.recovery().damaged.empty());
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(wbj::list_quarantine(dir.path()).size(), 1u);
}

TEST(JournalDamage, ADamagedFileHeaderLosesNoRecord) {
  tools::TempDir dir("strata-wb-damage");
  const Segment seg = write_records(dir.path(), 3);
  std::string damaged = seg.bytes;
  damaged[2] = 'X';
  spit(seg.path, damaged);
  auto state = std::make_shared<MapState>();
  auto options = test_options(dir.path());
  options.log = [](const std::string&) {};
  StringWriteBehind wb(options, map_source(state));
  EXPECT_EQ(wb.recovery().records_replayed, 3u);
  ASSERT_EQ(wb.recovery().damaged.size(), 1u);
  EXPECT_EQ(wb.recovery().damaged[0].offset, 0u);
  EXPECT_EQ(wb.recovery().damaged[0].bytes, wbj::kFileMagic.size());
  wb.flush(5s);
  EXPECT_EQ(state->size(), 3u);
}

TEST(JournalDamage, ADamagedDeadLetterLosesNoOtherLetter) {
  tools::TempDir dir("strata-wb-damage");
  std::string file(wbj::kFileMagic);
  std::vector<std::size_t> starts;
  for (int i = 0; i < 4; ++i) {
    starts.push_back(file.size());
    wbj::encode_record(file, 10 + i, WriteOp::kPut, "d" + std::to_string(i), "v", "refused");
  }
  file[starts[1] + 3] = static_cast<char>(file[starts[1] + 3] ^ 0x01);  // d1's length
  spit(wbj::dead_letter_path(dir.path()), file);
  auto state = std::make_shared<MapState>();
  auto options = test_options(dir.path());
  options.log = [](const std::string&) {};
  StringWriteBehind wb(options, map_source(state));
  ASSERT_EQ(wb.recovery().damaged.size(), 1u);
  EXPECT_EQ(wb.recovery().damaged[0].offset, starts[1]);
  const auto letters = wb.dead_letters();
  ASSERT_EQ(letters.size(), 3u);
  EXPECT_EQ(letters[0].key, "d0");
  EXPECT_EQ(letters[1].key, "d2");
  EXPECT_EQ(letters[2].key, "d3");
}

TEST(JournalDamage, ACrashTornTailIsCutWithoutQuarantine) {
  tools::TempDir dir("strata-wb-damage");
  const Segment seg = write_records(dir.path(), 3);
  spit(seg.path, seg.bytes.substr(0, seg.bytes.size() - 5));
  auto state = std::make_shared<MapState>();
  StringWriteBehind wb(test_options(dir.path()), map_source(state));
  EXPECT_EQ(wb.recovery().records_replayed, 2u);
  ASSERT_EQ(wb.recovery().truncations.size(), 1u);
  EXPECT_TRUE(wb.recovery().damaged.empty());
  EXPECT_TRUE(wbj::list_quarantine(dir.path()).empty());
}

// The randomized test: segments (consecutive sequences) and dead-letter files (arbitrary
// sequences, error texts) with random records; each trial flips bits, overwrites runs with random
// bytes and/or truncates the file at random offsets. Whatever the damage, the scan must return
// exactly the records whose own bytes are unchanged, in order, and no other (the CRC guards
// against garbage). Every 40th trial also repairs the file on disk and scans it again.
TEST(JournalScanRandom, NoIntactRecordIsEverLostAndNoGarbageIsAccepted) {
  std::mt19937_64 rng(20261203);
  const auto uniform = [&](std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
  };
  const auto random_bytes = [&](std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(uniform(0, 255));
    return s;
  };
  tools::TempDir dir("strata-wb-random");
  constexpr int kTrials = 4000;
  std::size_t intact_total = 0;
  std::size_t damaged_total = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const bool segment = trial % 3 != 0;
    const std::uint64_t first = 1 + uniform(0, 1'000'000);
    std::string file(wbj::kFileMagic);
    struct Expected {
      std::size_t at, size;
      std::uint64_t sequence;
      std::string key, value, error;
    };
    std::vector<Expected> records;
    const std::size_t n = uniform(1, 24);
    for (std::size_t i = 0; i < n; ++i) {
      Expected e;
      e.at = file.size();
      e.sequence = segment ? first + i : uniform(1, 1u << 20);
      e.key = random_bytes(uniform(0, 12));
      e.value = uniform(0, 3) == 0 ? std::string() : random_bytes(uniform(0, 80));
      e.error = segment ? std::string() : "error " + std::to_string(i);
      const WriteOp op = uniform(0, 4) == 0 ? WriteOp::kErase : WriteOp::kPut;
      wbj::encode_record(file, e.sequence, op, e.key, e.value, e.error);
      e.size = file.size() - e.at;
      records.push_back(std::move(e));
    }
    const std::string original = file;
    const int kind = static_cast<int>(uniform(0, 3));
    if (kind != 2) {  // flips and overwritten runs
      const std::size_t hits = uniform(1, 4);
      for (std::size_t h = 0; h < hits; ++h) {
        const std::size_t at = uniform(0, file.size() - 1);
        if (uniform(0, 1) == 0) {
          file[at] = static_cast<char>(file[at] ^ (1 << uniform(0, 7)));
        } else {
          const std::size_t len = std::min(file.size() - at, uniform(1, 40));
          file.replace(at, len, random_bytes(len));
        }
      }
    }
    if (kind >= 2) file.resize(uniform(0, file.size()));  // truncation (alone or after damage)
    // The records whose own bytes are all unchanged and present.
    std::vector<const Expected*> intact;
    for (const auto& e : records) {
      if (e.at + e.size > file.size()) continue;
      if (file.compare(e.at, e.size, original, e.at, e.size) == 0) intact.push_back(&e);
    }
    const auto check = [&](const wbj::ScanResult& scan, const std::string& what) {
      ASSERT_EQ(scan.records.size(), intact.size()) << what << " trial " << trial;
      for (std::size_t i = 0; i < intact.size(); ++i) {
        EXPECT_EQ(scan.records[i].sequence, intact[i]->sequence) << what << " trial " << trial;
        EXPECT_EQ(scan.records[i].key, intact[i]->key) << what << " trial " << trial;
        EXPECT_EQ(scan.records[i].value, intact[i]->value) << what << " trial " << trial;
        EXPECT_EQ(scan.records[i].error, intact[i]->error) << what << " trial " << trial;
      }
    };
    const auto first_sequence = segment ? std::optional<std::uint64_t>(first) : std::nullopt;
    const wbj::ScanResult scan = wbj::scan_bytes(file, "f", first_sequence);
    check(scan, "scan");
    if (::testing::Test::HasFatalFailure()) return;
    intact_total += intact.size();
    damaged_total += scan.damaged.size();
    if (trial % 40 == 0) {
      for (const auto& e : fs::directory_iterator(dir.path())) fs::remove_all(e.path());
      const auto path = dir.path() / "journal-00000000000000000001.log";
      spit(path, file);
      std::vector<fs::path> quarantined;
      const auto repaired = wbj::scan_file(path, /*repair=*/true, first_sequence, &quarantined);
      check(repaired, "repair");
      EXPECT_EQ(quarantined.size(), repaired.damaged.size());
      const auto rescan = wbj::scan_bytes(wbj::read_file(path), "f", first_sequence);
      check(rescan, "rescan");
      EXPECT_TRUE(rescan.damaged.empty() && !rescan.truncation && rescan.header_ok)
          << "trial " << trial;
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  std::cout << "journal random damage: " << kTrials << " trials, " << intact_total
            << " intact records all recovered, " << damaged_total << " damaged ranges skipped\n";
}

// ---- item 3: checkpoints on a full disk and failing checkpoint writes -------------------------

TEST(JournalCheckpoint, TwoSlotsSurviveATornSlotAndTheOneSlotFormatIsRead) {
  tools::TempDir dir("strata-wb-checkpoint");
  wbj::create_checkpoint(dir.path(), 7);
  EXPECT_EQ(wbj::read_checkpoint(dir.path()), 7u);
  wbj::write_checkpoint_slot(dir.path(), 0, 9);
  EXPECT_EQ(wbj::read_checkpoint(dir.path()), 9u);
  wbj::write_checkpoint_slot(dir.path(), 1, 12);
  EXPECT_EQ(wbj::read_checkpoint(dir.path()), 12u);
  // A torn write of slot 0 (the next one) leaves slot 1.
  std::string data = wbj::read_file(dir.path() / "checkpoint");
  data[3] = static_cast<char>(data[3] ^ 0x55);
  spit(dir.path() / "checkpoint", data);
  EXPECT_EQ(wbj::read_checkpoint(dir.path()), 12u);
  EXPECT_TRUE(wbj::checkpoint_problem(dir.path()).empty());
  // The one-slot file of earlier versions.
  spit(dir.path() / "checkpoint", data.substr(12, 12));
  EXPECT_EQ(wbj::read_checkpoint(dir.path()), 12u);
}

// A tmpfs of 64 KiB, filled to the last byte after the journal files exist (root only: skipped
// otherwise); unmounted by the destructor.
struct FullDisk {
  fs::path dir;
  bool mounted = false;
  explicit FullDisk(const fs::path& where) : dir(where) {
    fs::create_directories(dir);
    mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=64k") == 0;
  }
  void fill() const {
    const int fd = ::open((dir / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    const std::string block(4096, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    while (::write(fd, block.data(), 1) > 0) {
    }
    ::close(fd);
    // Really full: a new file cannot get a byte.
    const int probe = ::open((dir / "probe").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(probe, 0);
    EXPECT_LT(::write(probe, "y", 1), 1);
    ::close(probe);
    fs::remove(dir / "probe");
  }
  void free_space() const { fs::remove(dir / "filler"); }
  ~FullDisk() {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
  }
};

TEST(JournalCheckpoint, AFullDiskDoesNotStopTheCheckpointSoARestartReplaysNothingStale) {
  tools::TempDir root("strata-wb-full");
  FullDisk disk(root.path() / "mnt");
  if (!disk.mounted) GTEST_SKIP() << "cannot mount a tmpfs (not root?)";
  const fs::path dir = disk.dir / "wb";
  auto state = std::make_shared<MapState>();
  {
    StringWriteBehind wb(test_options(dir), map_source(state));
    disk.fill();
    // The record fits in the segment's allocated page; the checkpoint is written in place.
    wb.put("k", "v1");
    wb.flush(5s);
    EXPECT_EQ(wb.stats().checkpoint_failures, 0u);
    EXPECT_EQ(wb.stats().checkpoint, 1u);
    wb.close(5s);
  }
  EXPECT_EQ(state->get("k"), "v1");
  {  // a newer change made in the source by someone else
    std::lock_guard lock(state->mu);
    state->rows["k"] = "v2";
  }
  disk.free_space();
  StringWriteBehind again(test_options(dir), map_source(state));
  EXPECT_EQ(again.recovery().records_replayed, 0u);
  again.flush(5s);
  EXPECT_EQ(state->get("k"), "v2");  // not overwritten by the stale journaled v1
}

TEST(JournalCheckpoint, AFailingCheckpointWriteIsReportedByFlushAndClose) {
  tools::TempDir dir("strata-wb-checkpoint");
  auto state = std::make_shared<MapState>();
  StringWriteBehind wb(test_options(dir.path()), map_source(state));
  // The checkpoint file replaced by a directory: every in-place write fails.
  fs::remove(dir.path() / "checkpoint");
  fs::create_directory(dir.path() / "checkpoint");
  wb.put("k", "v1");
  try {
    wb.flush(10s);
    FAIL() << "flush succeeded without a checkpoint";
  } catch (const UnavailableError& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint could not be written"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(state->get("k"), "v1");  // it is in the source
  EXPECT_GE(wb.stats().checkpoint_failures, 1u);
  EXPECT_EQ(wb.stats().checkpoint, 0u);
  EXPECT_THROW(wb.close(2s), UnavailableError);
}

TEST(JournalCheckpoint, ACheckpointThatRecoversClearsTheFailure) {
  tools::TempDir dir("strata-wb-checkpoint");
  auto state = std::make_shared<MapState>();
  StringWriteBehind wb(test_options(dir.path()), map_source(state));
  const std::string saved = wbj::read_file(dir.path() / "checkpoint");
  fs::remove(dir.path() / "checkpoint");
  fs::create_directory(dir.path() / "checkpoint");
  wb.put("k", "v1");
  EXPECT_THROW(wb.flush(10s), UnavailableError);
  fs::remove(dir.path() / "checkpoint");
  spit(dir.path() / "checkpoint", saved);
  wb.flush(10s);
  EXPECT_EQ(wb.stats().checkpoint, 1u);
  wb.close(2s);
}

}  // namespace
}  // namespace strata
