// Every trace format, parsed from bytes the test writes (plain, gzip and xz), and the guessing
// of a format from a path.
#include "sim/trace_reader.h"

#include <gtest/gtest.h>

#include "common/temp_dir.h"
#include "sim/compression.h"
#include "sim_test_support.h"
#include "strata/error.h"

namespace strata::sim {
namespace {

using testing::put_be;
using testing::put_le;
using Keys = std::vector<std::uint64_t>;

// Expects a CorruptedError whose message contains `where`.
void expect_corrupted(std::string_view bytes, TraceFormat format, const std::string& where) {
  try {
    (void)parse_trace(bytes, format);
    ADD_FAILURE() << "no exception for format " << format_name(format) << ", expected " << where;
  } catch (const CorruptedError& e) {
    EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
  }
}

TEST(TraceReader, LirsSkipsCheckpointsAndEmptyLinesAndCarriageReturns) {
  const Trace t = parse_trace("1\n2\n*\n\n3\r\n 2 \n18446744073709551615\n1", TraceFormat::kLirs);
  EXPECT_EQ(t.keys(), (Keys{1, 2, 3, 2, UINT64_MAX, 1}));
  EXPECT_FALSE(t.has_weights());
  EXPECT_EQ(t.distinct_keys(), 4u);
  EXPECT_EQ(t.ids(), (std::vector<std::uint32_t>{0, 1, 2, 1, 3, 0}));
  EXPECT_EQ(t.id_keys(), (Keys{1, 2, 3, UINT64_MAX}));
}

TEST(TraceReader, LirsRejectsAMalformedLineWithItsNumber) {
  expect_corrupted("1\n2\n*\n\n12a\n", TraceFormat::kLirs, "line 5");
  expect_corrupted("1\n0x10\n", TraceFormat::kLirs, "line 2");
  expect_corrupted("18446744073709551616\n", TraceFormat::kLirs, "line 1");  // 2^64
}

TEST(TraceReader, TextTakesDecimalHexAndNegativeKeys) {
  const Trace t = parse_trace("42932745\n0x10\n-1\n-9223372036854775808\n\n", TraceFormat::kText);
  EXPECT_EQ(t.keys(), (Keys{42932745, 16, UINT64_MAX, std::uint64_t{1} << 63}));
  expect_corrupted("1\n*\n", TraceFormat::kText, "line 2");
}

TEST(TraceReader, AddressKeysAreTheHexAddress) {
  const Trace t =
      parse_trace("s 0x1fffff50 1\nl 0x1FFFFF58 1\n\nl 1fffff50 6\n", TraceFormat::kAddress);
  EXPECT_EQ(t.keys(), (Keys{0x1fffff50, 0x1fffff58, 0x1fffff50}));
  expect_corrupted("s 0x1fffff50 1\nl 0xzz 1\n", TraceFormat::kAddress, "line 2");
  expect_corrupted("s 0x1fffff50\n", TraceFormat::kAddress, "line 1");
  // A penalties line has five fields: not an address line.
  expect_corrupted("s 0x1fffff50 1 1 100\n", TraceFormat::kAddress, "line 1");
}

TEST(TraceReader, AddressPenaltiesIgnoresThePenalties) {
  const Trace t =
      parse_trace("s 0x1fffff50 1 1 100\nl 0x1fffff58 6 1.5 10\n", TraceFormat::kAddressPenalties);
  EXPECT_EQ(t.keys(), (Keys{0x1fffff50, 0x1fffff58}));
  expect_corrupted("s 0x1fffff50 1 1\n", TraceFormat::kAddressPenalties, "line 1");
  expect_corrupted("s 0x1fffff50 1 1 x\n", TraceFormat::kAddressPenalties, "line 1");
}

TEST(TraceReader, Cache2kIsBigEndianSignedInt32) {
  std::string b;
  put_be(b, 0x00000102, 4);
  put_be(b, 0xffffffff, 4);  // -1
  put_be(b, 0x80000000, 4);  // INT32_MIN
  put_be(b, 0x7fffffff, 4);
  const Trace t = parse_trace(b, TraceFormat::kCache2k);
  EXPECT_EQ(t.keys(), (Keys{258, UINT64_MAX, 0xffffffff80000000ULL, 0x7fffffff}));
}

TEST(TraceReader, CloudPhysicsIsBigEndianUnsignedInt32) {
  std::string b;
  put_be(b, 0x01020304, 4);
  put_be(b, 0xffffffff, 4);
  EXPECT_EQ(parse_trace(b, TraceFormat::kCloudPhysics).keys(), (Keys{0x01020304, 0xffffffff}));
}

TEST(TraceReader, CordaAndScarabAreBigEndianInt64) {
  std::string b;
  put_be(b, 0x0102030405060708ULL, 8);
  put_be(b, static_cast<std::uint64_t>(-2), 8);
  for (auto f : {TraceFormat::kCorda, TraceFormat::kScarab}) {
    EXPECT_EQ(parse_trace(b, f).keys(), (Keys{0x0102030405060708ULL, UINT64_MAX - 1}));
  }
}

TEST(TraceReader, ATruncatedBinaryRecordIsCorruptedAtItsOffset) {
  std::string b;
  put_be(b, 7, 4);
  b += "\x01";
  expect_corrupted(b, TraceFormat::kCache2k, "byte offset 4");
  expect_corrupted(b, TraceFormat::kCloudPhysics, "byte offset 4");
  std::string c;
  put_be(c, 7, 8);
  put_be(c, 8, 8);
  c.resize(c.size() - 3);
  expect_corrupted(c, TraceFormat::kScarab, "byte offset 8");
  expect_corrupted(c, TraceFormat::kCorda, "byte offset 8");
}

TEST(TraceReader, AdaptSizeKeysOnIdAndSizeAndWeighsBySize) {
  const Trace t = parse_trace("1 10 100\n2 10 200\n3 11 100\n4 10 100\n", TraceFormat::kAdaptSize);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t.keys()[0], t.keys()[3]);
  EXPECT_NE(t.keys()[0], t.keys()[1]);  // same id, another size: another object
  EXPECT_NE(t.keys()[0], t.keys()[2]);
  EXPECT_EQ(t.distinct_keys(), 3u);
  EXPECT_EQ(t.weights(), (std::vector<std::uint32_t>{100, 200, 100, 100}));
  expect_corrupted("1 10 100\n2 10\n", TraceFormat::kAdaptSize, "line 2");
  expect_corrupted("1 10 -5\n", TraceFormat::kAdaptSize, "line 1");
  expect_corrupted("1 10 4294967296\n", TraceFormat::kAdaptSize, "line 1");  // size > u32
}

TEST(TraceReader, CsvKeysOnLbnAndWeighsBySize) {
  const Trace t =
      parse_trace("version,time,op,size,lbn\n1,5633898,2a,512,42932745\n1,5633899,28,4096,7\n\n",
                  TraceFormat::kCsv);
  EXPECT_EQ(t.keys(), (Keys{42932745, 7}));
  EXPECT_EQ(t.weights(), (std::vector<std::uint32_t>{512, 4096}));
  expect_corrupted("1,5633898,2a,512,42932745\n", TraceFormat::kCsv, "line 1");
  expect_corrupted("version,time,op,size,lbn\n1,2,2a,512\n", TraceFormat::kCsv, "line 2");
  expect_corrupted("version,time,op,size,lbn\n1,2,2a,512,x\n", TraceFormat::kCsv, "line 2");
}

TEST(TraceReader, OracleGeneralIsLittleEndian24ByteRecords) {
  std::string b;
  for (auto [id, size] : {std::pair<std::uint64_t, std::uint32_t>{0x0102030405060708ULL, 4096},
                          {5, 512},
                          {0x0102030405060708ULL, 4096}}) {
    put_le(b, 123, 4);                             // clock_time
    put_le(b, id, 8);                              // obj_id
    put_le(b, size, 4);                            // obj_size
    put_le(b, static_cast<std::uint64_t>(-1), 8);  // next_access_vtime
  }
  const Trace t = parse_trace(b, TraceFormat::kOracleGeneral);
  EXPECT_EQ(t.keys(), (Keys{0x0102030405060708ULL, 5, 0x0102030405060708ULL}));
  EXPECT_EQ(t.weights(), (std::vector<std::uint32_t>{4096, 512, 4096}));
  expect_corrupted(b.substr(0, 24 + 23), TraceFormat::kOracleGeneral, "byte offset 24");
}

// Issue 20 item 5: the ARC authors' traces (S3, DS1, OLTP, P8, ...), as Caffeine reads them.
TEST(TraceReader, ArcExpandsEachLineIntoItsRunOfBlocks) {
  const Trace t =
      parse_trace("100 3 0 1\n7 1 0 2\r\n\n101 2 0 3\n5 0 0 4\n9 1\n", TraceFormat::kArc);
  EXPECT_EQ(t.keys(), (Keys{100, 101, 102, 7, 101, 102, 9}));
  EXPECT_FALSE(t.has_weights());
  EXPECT_EQ(t.distinct_keys(), 5u);
  expect_corrupted("1 1 0 1\n2\n", TraceFormat::kArc, "line 2");
  expect_corrupted("1 1 0 1\nx 1 0 2\n", TraceFormat::kArc, "line 2");
  expect_corrupted("1 99999999999 0 1\n", TraceFormat::kArc, "line 1");
  expect_corrupted("18446744073709551615 2 0 1\n", TraceFormat::kArc, "line 1");
}

// A few bytes must not buy gigabytes: each run is short enough alone, but together the runs of
// a tiny file pass the bound on the whole expansion (16 requests per input byte, at least 2^24).
TEST(TraceReader, ArcRejectsRunsThatExpandFarBeyondTheFilesSize) {
  expect_corrupted("0 16777215 0 0\n0 2 0 1\n", TraceFormat::kArc, "line 2");
}

// A trace file the test writes, read from disk and its format guessed from an `arc` folder.
TEST(TraceReader, ReadsAnArcTraceFile) {
  tools::TempDir dir("strata-sim");
  std::filesystem::create_directories(dir.path() / "arc");
  const auto path = dir.path() / "arc" / "OLTP.lis";
  testing::write_file(path, "5 2 0 0\n6 1 0 1\n");
  EXPECT_EQ(guess_format(path), TraceFormat::kArc);
  EXPECT_EQ(read_trace(path, guess_format(path)).keys(), (Keys{5, 6, 6}));
}

TEST(TraceReader, AnEmptyTraceHasNoRequests) {
  EXPECT_EQ(parse_trace("", TraceFormat::kLirs).size(), 0u);
  EXPECT_EQ(parse_trace("", TraceFormat::kCache2k).size(), 0u);
  EXPECT_EQ(parse_trace("", TraceFormat::kOracleGeneral).distinct_keys(), 0u);
}

TEST(TraceReader, ReadsPlainGzipAndXzFilesAlike) {
  tools::TempDir dir("strata-sim");
  const std::string text = "5\n*\n6\n5\n";
  std::string binary;
  for (std::uint64_t k : {5, 6, 5}) put_be(binary, k, 8);
  testing::write_file(dir.path() / "plain", text);
  testing::write_file(dir.path() / "gz", compress_gzip(text));
  testing::write_file(dir.path() / "xz", compress_xz(text));
  testing::write_file(dir.path() / "bin.xz", compress_xz(binary));
  testing::write_file(dir.path() / "bin.gz", compress_gzip(binary));
  for (const char* name : {"plain", "gz", "xz"}) {
    EXPECT_EQ(read_trace(dir.path() / name, TraceFormat::kLirs).keys(), (Keys{5, 6, 5})) << name;
  }
  EXPECT_EQ(read_trace(dir.path() / "bin.xz", TraceFormat::kScarab).keys(), (Keys{5, 6, 5}));
  EXPECT_EQ(read_trace(dir.path() / "bin.gz", TraceFormat::kCorda).keys(), (Keys{5, 6, 5}));
  EXPECT_THROW((void)read_trace(dir.path() / "missing", TraceFormat::kLirs), InvalidArgumentError);
  testing::write_file(dir.path() / "bad.gz", compress_gzip("1\nx\n"));
  try {
    (void)read_trace(dir.path() / "bad.gz", TraceFormat::kLirs);
    FAIL() << "no exception";
  } catch (const CorruptedError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.gz"), std::string::npos) << what;
    EXPECT_NE(what.find("line 2"), std::string::npos) << what;
    EXPECT_EQ(what.find("corrupted: "), 0u) << what;
    EXPECT_EQ(what.find("corrupted: ", 1), std::string::npos) << what;  // one prefix only
  }
}

TEST(TraceReader, GuessesTheFormatFromThePath) {
  const std::vector<std::pair<std::string, TraceFormat>> cases = {
      {"traces/lirs/gli.trace.gz", TraceFormat::kLirs},
      {"traces/address/gcc.trace.gz", TraceFormat::kAddress},
      {"traces/address/penalties/gcc.trace.xz", TraceFormat::kAddressPenalties},
      {"traces/cache2k/web07.trace.xz", TraceFormat::kCache2k},
      {"traces/cloud_physics/w106.trace.xz", TraceFormat::kCloudPhysics},
      {"traces/corda/trace_vaultservice.gz", TraceFormat::kCorda},
      {"traces/scarab/scarab-recs.trace.xz", TraceFormat::kScarab},
      {"traces/adapt_size/request.trace.xz", TraceFormat::kAdaptSize},
      {"traces/libcachesim/cloudPhysicsIO.txt", TraceFormat::kText},
      {"traces/libcachesim/cloudPhysicsIO.csv", TraceFormat::kCsv},
      {"traces/libcachesim/cloudPhysicsIO.oracleGeneral.bin", TraceFormat::kOracleGeneral},
      {"lirs/w.oracleGeneral.bin.xz", TraceFormat::kOracleGeneral},
      {"keys.txt.gz", TraceFormat::kText},
      {"/tmp/lirs/keys.txt", TraceFormat::kLirs},  // the folder wins over the extension
  };
  for (const auto& [path, format] : cases) {
    EXPECT_EQ(guess_format(path), format) << path;
  }
  EXPECT_THROW((void)guess_format("traces/other/x.trace.gz"), InvalidArgumentError);
  EXPECT_THROW((void)guess_format("x.bin"), InvalidArgumentError);
  // Only the folder holding the file counts, not its ancestors.
  EXPECT_THROW((void)guess_format("lirs/sub/x.trace"), InvalidArgumentError);
}

TEST(TraceReader, FormatNamesRoundTrip) {
  for (auto f : {TraceFormat::kLirs, TraceFormat::kAddress, TraceFormat::kAddressPenalties,
                 TraceFormat::kCache2k, TraceFormat::kCloudPhysics, TraceFormat::kCorda,
                 TraceFormat::kScarab, TraceFormat::kAdaptSize, TraceFormat::kText,
                 TraceFormat::kCsv, TraceFormat::kOracleGeneral, TraceFormat::kArc}) {
    EXPECT_EQ(parse_format(format_name(f)), f);
  }
  EXPECT_EQ(parse_format("oracleGeneral"), TraceFormat::kOracleGeneral);
  EXPECT_TRUE(format_has_weights(TraceFormat::kAdaptSize));
  EXPECT_FALSE(format_has_weights(TraceFormat::kLirs));
  try {
    (void)parse_format("arc2");  // "arc" is a format since issue 20
    FAIL() << "no exception";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("cloud_physics"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strata::sim
