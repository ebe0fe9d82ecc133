// zstd and lz4 behind strata::compress / strata::decompress (strata/codec/codec.h). Decompression
// always targets a buffer of the declared size and requires the output to fill it exactly, so
// hostile input can neither overflow the buffer nor make it grow.
#include <lz4.h>
#include <zstd.h>

#include <limits>

#include "strata/codec/codec.h"

namespace strata {

void CompressionOptions::validate() const {
  if (algorithm != Compression::kNone && algorithm != Compression::kZstd &&
      algorithm != Compression::kLz4) {
    throw InvalidArgumentError("compression.algorithm: unknown value " +
                               std::to_string(static_cast<int>(algorithm)));
  }
  if (zstd_level < 1 || zstd_level > ZSTD_maxCLevel()) {
    throw InvalidArgumentError("compression.zstd_level must be in [1, " +
                               std::to_string(ZSTD_maxCLevel()) + "], got " +
                               std::to_string(zstd_level));
  }
}

std::string_view to_string(Compression algorithm) noexcept {
  switch (algorithm) {
    case Compression::kNone:
      return "none";
    case Compression::kZstd:
      return "zstd";
    case Compression::kLz4:
      return "lz4";
  }
  return "unknown";
}

std::string compress(Compression algorithm, std::string_view bytes, int zstd_level) {
  switch (algorithm) {
    case Compression::kNone:
      return std::string(bytes);
    case Compression::kZstd: {
      std::string out(ZSTD_compressBound(bytes.size()), '\0');
      const std::size_t n =
          ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), zstd_level);
      if (ZSTD_isError(n) != 0) {
        throw InvalidArgumentError(std::string("zstd compress: ") + ZSTD_getErrorName(n));
      }
      out.resize(n);
      return out;
    }
    case Compression::kLz4: {
      if (bytes.size() > static_cast<std::size_t>(LZ4_MAX_INPUT_SIZE)) {
        throw InvalidArgumentError("lz4 compress: input of " + std::to_string(bytes.size()) +
                                   " bytes exceeds LZ4_MAX_INPUT_SIZE");
      }
      const int size = static_cast<int>(bytes.size());
      std::string out(static_cast<std::size_t>(LZ4_compressBound(size)), '\0');
      const int n =
          LZ4_compress_default(bytes.data(), out.data(), size, static_cast<int>(out.size()));
      if (n <= 0) throw InvalidArgumentError("lz4 compress failed");
      out.resize(static_cast<std::size_t>(n));
      return out;
    }
  }
  throw InvalidArgumentError("compress: unknown algorithm " +
                             std::to_string(static_cast<int>(algorithm)));
}

std::string decompress(Compression algorithm, std::string_view bytes, std::size_t expected_size) {
  switch (algorithm) {
    case Compression::kNone:
      if (bytes.size() != expected_size) {
        throw CorruptedError("uncompressed payload of " + std::to_string(bytes.size()) +
                             " bytes, expected " + std::to_string(expected_size));
      }
      return std::string(bytes);
    case Compression::kZstd: {
      std::string out(expected_size, '\0');
      const std::size_t n = ZSTD_decompress(out.data(), out.size(), bytes.data(), bytes.size());
      if (ZSTD_isError(n) != 0) {
        throw CorruptedError(std::string("zstd decompress: ") + ZSTD_getErrorName(n));
      }
      if (n != expected_size) {
        throw CorruptedError("zstd payload expands to " + std::to_string(n) + " bytes, expected " +
                             std::to_string(expected_size));
      }
      return out;
    }
    case Compression::kLz4: {
      if (expected_size > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
          bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        throw CorruptedError("lz4 payload too large");
      }
      std::string out(expected_size, '\0');
      const int n = LZ4_decompress_safe(bytes.data(), out.data(), static_cast<int>(bytes.size()),
                                        static_cast<int>(out.size()));
      if (n < 0 || static_cast<std::size_t>(n) != expected_size) {
        throw CorruptedError("lz4 payload does not expand to the declared " +
                             std::to_string(expected_size) + " bytes");
      }
      return out;
    }
  }
  throw CorruptedError("unknown compression algorithm " +
                       std::to_string(static_cast<int>(algorithm)));
}

}  // namespace strata
