// Gzip and xz decoding, detected from the bytes.
#include "sim/compression.h"

#include <gtest/gtest.h>

#include "common/temp_dir.h"
#include "sim_test_support.h"
#include "strata/error.h"

namespace strata::sim {
namespace {

std::string sample(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; s.size() < n; ++i) s += std::to_string(i * 7919 % 100003) + "\n";
  s.resize(n);
  return s;
}

TEST(Compression, DetectsTheFormatFromTheMagicBytes) {
  EXPECT_EQ(detect_compression(compress_gzip("abc")), Compression::kGzip);
  EXPECT_EQ(detect_compression(compress_xz("abc")), Compression::kXz);
  EXPECT_EQ(detect_compression("abc"), Compression::kNone);
  EXPECT_EQ(detect_compression(""), Compression::kNone);
  EXPECT_EQ(detect_compression("\x1f"), Compression::kNone);
}

TEST(Compression, RoundTripsSmallAndLargeBuffers) {
  for (std::size_t n : {0u, 1u, 1000u, 3u << 20}) {  // 3 MiB spans several output blocks
    const std::string plain = sample(n);
    EXPECT_EQ(decompress(compress_gzip(plain)), plain) << n;
    EXPECT_EQ(decompress(compress_xz(plain)), plain) << n;
    EXPECT_EQ(decompress(plain), plain) << n;
  }
}

TEST(Compression, DecodesConcatenatedGzipMembersAndXzStreams) {
  EXPECT_EQ(decompress(compress_gzip("1\n2\n") + compress_gzip("3\n")), "1\n2\n3\n");
  EXPECT_EQ(decompress(compress_xz("1\n2\n") + compress_xz("3\n")), "1\n2\n3\n");
}

TEST(Compression, TruncatedOrDamagedStreamsAreCorrupted) {
  const std::string plain = sample(100000);
  for (const std::string& packed : {compress_gzip(plain), compress_xz(plain)}) {
    EXPECT_THROW((void)decompress(packed.substr(0, packed.size() / 2)), CorruptedError);
    std::string damaged = packed;
    for (std::size_t i = 20; i < 60; ++i) damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
    EXPECT_THROW((void)decompress(damaged), CorruptedError);
  }
}

TEST(Compression, FilesAreDecodedWhateverTheirExtensionSays) {
  tools::TempDir dir("strata-sim");
  testing::write_file(dir.path() / "gzip-data.xz", compress_gzip("gz\n"));
  testing::write_file(dir.path() / "xz-data.gz", compress_xz("xz\n"));
  testing::write_file(dir.path() / "plain.gz", "plain\n");
  EXPECT_EQ(read_file_decompressed(dir.path() / "gzip-data.xz"), "gz\n");
  EXPECT_EQ(read_file_decompressed(dir.path() / "xz-data.gz"), "xz\n");
  EXPECT_EQ(read_file_decompressed(dir.path() / "plain.gz"), "plain\n");
  EXPECT_THROW((void)read_file_decompressed(dir.path() / "missing"), InvalidArgumentError);
  const std::string packed = compress_xz(sample(10000));
  testing::write_file(dir.path() / "cut.xz", packed.substr(0, packed.size() - 10));
  try {
    (void)read_file_decompressed(dir.path() / "cut.xz");
    FAIL() << "no exception";
  } catch (const CorruptedError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.xz"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strata::sim
