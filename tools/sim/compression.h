// sim/compression.h: whole-buffer gzip and xz decoding for trace files, detected from the magic
// bytes (never from the file name), and the matching encoders the tests use to make traces.
//
//   std::string bytes = strata::sim::read_file_decompressed("lirs/gli.trace.gz");
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace strata::sim {

enum class Compression { kNone, kGzip, kXz };

// What the first bytes say: gzip (1f 8b), xz (fd 37 7a 58 5a 00), or none.
[[nodiscard]] Compression detect_compression(std::string_view bytes) noexcept;

// The decoded contents of `bytes` (concatenated gzip members and xz streams are all decoded).
// Uncompressed input is returned as is. Throws CorruptedError on a damaged or truncated stream.
[[nodiscard]] std::string decompress(std::string_view bytes);

// Reads a whole file and decompresses it. Throws InvalidArgumentError when the file cannot be
// opened, CorruptedError when it cannot be decoded.
[[nodiscard]] std::string read_file_decompressed(const std::filesystem::path& path);

// Encoders (for tests and tools that write traces).
[[nodiscard]] std::string compress_gzip(std::string_view bytes);
[[nodiscard]] std::string compress_xz(std::string_view bytes);

}  // namespace strata::sim
