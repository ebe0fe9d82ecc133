// The write-behind journal: record round trips, every truncation and every bit flip of the last
// record detected and cut off with its offset reported, checkpoint + segment deletion, and a
// restart that replays exactly the unflushed records.
#include "write_behind/journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>

#include "write_behind/wb_fixtures.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::map_source;
using testing::MapState;
using testing::StringWriteBehind;
using testing::test_options;
namespace wbj = strata::write_behind;

std::string slurp(const std::filesystem::path& p) {
  return wbj::read_file(p);
}

void spit(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(JournalRecord, RoundTripsEveryField) {
  std::string bytes;
  const std::string binary_key("k\0ey", 4);
  wbj::encode_record(bytes, 7, WriteOp::kPut, binary_key, std::string(1000, '\xff'));
  wbj::encode_record(bytes, 8, WriteOp::kErase, "gone", "");
  wbj::encode_record(bytes, 9, WriteOp::kPut, "", "v", "the error");
  wbj::Record r;
  auto d = wbj::decode_record(bytes, &r);
  ASSERT_EQ(d.status, wbj::Decoded::Status::kOk);
  EXPECT_EQ(r.sequence, 7u);
  EXPECT_EQ(r.op, WriteOp::kPut);
  EXPECT_EQ(r.key, binary_key);
  EXPECT_EQ(r.value, std::string(1000, '\xff'));
  EXPECT_EQ(r.error, "");
  std::string_view rest(bytes);
  rest.remove_prefix(d.size);
  d = wbj::decode_record(rest, &r);
  ASSERT_EQ(d.status, wbj::Decoded::Status::kOk);
  EXPECT_EQ(r.sequence, 8u);
  EXPECT_EQ(r.op, WriteOp::kErase);
  EXPECT_EQ(r.key, "gone");
  rest.remove_prefix(d.size);
  d = wbj::decode_record(rest, &r);
  ASSERT_EQ(d.status, wbj::Decoded::Status::kOk);
  EXPECT_EQ(r.error, "the error");
  rest.remove_prefix(d.size);
  EXPECT_EQ(wbj::decode_record(rest, &r).status, wbj::Decoded::Status::kEnd);
  // Layout: 8-byte header + 17 fixed body bytes + key + value + error.
  std::string one;
  wbj::encode_record(one, 1, WriteOp::kPut, "ab", "xyz");
  EXPECT_EQ(one.size(), 8u + 17u + 2u + 3u);
}

// Writes three records through a WriteBehind whose source is down (so nothing is flushed),
// returns the segment holding them and the offset where the last record starts.
struct ThreeRecords {
  std::filesystem::path segment;
  std::uint64_t last_offset = 0;
  std::string bytes;
};

ThreeRecords write_three(const std::filesystem::path& dir) {
  auto state = std::make_shared<MapState>();
  state->hook = [](const std::vector<std::string>&) { throw UnavailableError("down"); };
  {
    StringWriteBehind wb(test_options(dir), map_source(state));
    wb.put("a", "1");
    wb.put("b", "2");
    wb.put("c", "3");
    EXPECT_THROW(wb.close(10ms), TimeoutError);
  }
  const auto segments = wbj::list_segments(dir);
  EXPECT_EQ(segments.size(), 1u);
  ThreeRecords out;
  out.segment = segments.at(0).second;
  out.bytes = slurp(out.segment);
  std::string two;
  wbj::encode_record(two, 1, WriteOp::kPut, "a", "1");
  wbj::encode_record(two, 2, WriteOp::kPut, "b", "2");
  out.last_offset = wbj::kFileMagic.size() + two.size();
  EXPECT_GT(out.bytes.size(), out.last_offset);
  return out;
}

// Opens the directory again and checks that exactly a and b were replayed and the tail cut.
void expect_recovered_two(const std::filesystem::path& dir, const ThreeRecords& three,
                          const std::string& what) {
  auto state = std::make_shared<MapState>();
  StringWriteBehind wb(test_options(dir), map_source(state));
  const auto& report = wb.recovery();
  EXPECT_EQ(report.records_replayed, 2u) << what;
  ASSERT_EQ(report.truncations.size(), 1u) << what;
  EXPECT_EQ(report.truncations[0].offset, three.last_offset) << what;
  EXPECT_EQ(report.truncations[0].file, three.segment.string()) << what;
  EXPECT_FALSE(report.truncations[0].reason.empty()) << what;
  EXPECT_EQ(std::filesystem::file_size(three.segment), three.last_offset) << what;
  wb.flush(5s);
  EXPECT_EQ(state->get("a"), "1") << what;
  EXPECT_EQ(state->get("b"), "2") << what;
  EXPECT_EQ(state->get("c"), std::nullopt) << what;
}

TEST(JournalRecovery, EveryTruncationOfTheLastRecordIsCutAndReported) {
  tools::TempDir dir("strata-wb-journal");
  const auto three = write_three(dir.path());
  for (std::uint64_t cut = three.last_offset + 1; cut < three.bytes.size(); ++cut) {
    // Restore the directory: only the torn segment (no checkpoint: nothing was flushed).
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      std::filesystem::remove_all(e.path());
    }
    spit(three.segment, three.bytes.substr(0, cut));
    expect_recovered_two(dir.path(), three, "cut at " + std::to_string(cut));
  }
}

TEST(JournalRecovery, EveryBitFlipInTheLastRecordIsDetected) {
  tools::TempDir dir("strata-wb-journal");
  const auto three = write_three(dir.path());
  for (std::uint64_t byte = three.last_offset; byte < three.bytes.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        std::filesystem::remove_all(e.path());
      }
      std::string flipped = three.bytes;
      flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
      spit(three.segment, flipped);
      expect_recovered_two(dir.path(), three,
                           "flip byte " + std::to_string(byte) + " bit " + std::to_string(bit));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(JournalRecovery, ATornHeaderIsRepairedNotFatal) {
  tools::TempDir dir("strata-wb-journal");
  spit(wbj::segment_path(dir.path(), 1), "STRA");
  auto state = std::make_shared<MapState>();
  StringWriteBehind wb(test_options(dir.path()), map_source(state));
  ASSERT_EQ(wb.recovery().truncations.size(), 1u);
  EXPECT_EQ(wb.recovery().truncations[0].offset, 0u);
  wb.put("a", "1");
  wb.flush(5s);
  EXPECT_EQ(state->get("a"), "1");
}

TEST(JournalRecovery, CheckpointAdvancesAndFlushedSegmentsAreDeleted) {
  tools::TempDir dir("strata-wb-journal");
  auto state = std::make_shared<MapState>();
  auto options = test_options(dir.path());
  options.segment_bytes = 4096;
  options.batch_size = 50;
  StringWriteBehind wb(options, map_source(state));
  std::vector<KeyValue<std::string>> entries;
  for (int i = 0; i < 400; ++i)
    entries.emplace_back("key" + std::to_string(i), std::string(100, 'v'));
  for (std::size_t i = 0; i < entries.size(); i += 10) {
    wb.put_many(std::span<const KeyValue<std::string>>(entries).subspan(i, 10));
  }
  wb.flush(10s);
  EXPECT_EQ(state->size(), 400u);
  EXPECT_EQ(wbj::read_checkpoint(dir.path()), 400u);
  // 400 records of ~130 bytes rotated through ~13 segments; all but the current one are gone.
  // (The flusher deletes them after persisting the checkpoint, which flush() may not wait for.)
  ASSERT_TRUE(testing::eventually([&] { return wbj::list_segments(dir.path()).size() == 1; }));
  EXPECT_EQ(wb.stats().journal_bytes,
            std::filesystem::file_size(wbj::list_segments(dir.path()).at(0).second));
  EXPECT_EQ(wb.stats().checkpoint, 400u);
}

TEST(JournalRecovery, RestartReplaysExactlyTheUnflushedRecords) {
  tools::TempDir dir("strata-wb-journal");
  auto state = std::make_shared<MapState>();
  {
    auto options = test_options(dir.path());
    options.segment_bytes = 4096;
    StringWriteBehind wb(options, map_source(state));
    for (int i = 0; i < 50; ++i) wb.put("flushed" + std::to_string(i), std::string(100, 'f'));
    wb.flush(5s);
    state->hook = [](const std::vector<std::string>&) { throw UnavailableError("down"); };
    for (int i = 0; i < 30; ++i) wb.put("pending" + std::to_string(i), "p" + std::to_string(i));
    wb.put("pending0", "latest");  // coalesced on replay too
    wb.erase("flushed0");
    EXPECT_THROW(wb.close(20ms), TimeoutError);
  }
  state->hook = nullptr;
  std::map<std::string, std::string> before;
  {
    std::lock_guard lock(state->mu);
    before = state->rows;
    state->history.clear();
  }
  EXPECT_EQ(before.size(), 50u);
  StringWriteBehind wb(test_options(dir.path()), map_source(state));
  EXPECT_EQ(wb.recovery().checkpoint, 50u);
  EXPECT_EQ(wb.recovery().records_replayed, 32u);
  EXPECT_TRUE(wb.recovery().truncations.empty());
  EXPECT_EQ(wb.stats().queue_depth, 31u);
  wb.flush(5s);
  std::lock_guard lock(state->mu);
  EXPECT_EQ(state->history.size(), 31u);  // only the unflushed keys were written again
  EXPECT_EQ(state->rows["pending0"], "latest");
  EXPECT_EQ(state->rows["pending29"], "p29");
  EXPECT_EQ(state->rows.count("flushed0"), 0u);
  EXPECT_EQ(state->rows.size(), 50u - 1u + 30u);
}

}  // namespace
}  // namespace strata
