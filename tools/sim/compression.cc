// Whole-buffer decoding. A trace is at most a few tens of MB decoded, so each file is read in one
// go and decoded into one growing std::string: the decoders write straight into its tail, in
// blocks that double in size, so a 20 MB xz trace costs a handful of decoder calls and no copies
// beyond the string's own growth. The zlib and liblzma stream states live in small RAII holders.
#include "sim/compression.h"

#include <lzma.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>

#include "strata/error.h"

namespace strata::sim {
namespace {

constexpr std::size_t kMinBlock = std::size_t{1} << 20;

// Grows `out` so that at least kMinBlock bytes (or as many again as it holds) are free past
// `used`, and returns the free span.
std::pair<char*, std::size_t> free_tail(std::string& out, std::size_t used) {
  if (out.size() - used < kMinBlock / 2) out.resize(std::max(used + kMinBlock, used * 2));
  return {out.data() + used, out.size() - used};
}

class Inflater {
 public:
  Inflater() {
    // 15 + 16: a gzip wrapper (not zlib, not raw deflate).
    if (inflateInit2(&stream_, 15 + 16) != Z_OK) throw InternalError("inflateInit2 failed");
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  ~Inflater() { inflateEnd(&stream_); }
  z_stream* get() { return &stream_; }

 private:
  z_stream stream_{};
};

std::string gunzip(std::string_view in) {
  Inflater inflater;
  z_stream* z = inflater.get();
  std::string out;
  std::size_t used = 0;
  std::size_t consumed = 0;
  // zlib counts in uInt; feed at most 1 GiB at a time.
  constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
  for (;;) {
    if (z->avail_in == 0 && consumed < in.size()) {
      const std::size_t n = std::min(kMaxChunk, in.size() - consumed);
      z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + consumed));
      z->avail_in = static_cast<uInt>(n);
      consumed += n;
    }
    auto [dst, room] = free_tail(out, used);
    room = std::min(room, kMaxChunk);
    z->next_out = reinterpret_cast<Bytef*>(dst);
    z->avail_out = static_cast<uInt>(room);
    const int rc = inflate(z, Z_NO_FLUSH);
    used += room - z->avail_out;
    if (rc == Z_STREAM_END) {
      const std::size_t position = consumed - z->avail_in;
      if (position == in.size()) break;
      // Another gzip member follows (as `cat a.gz b.gz` makes); trailing zero padding ends it.
      if (static_cast<unsigned char>(in[position]) != 0x1f) break;
      if (inflateReset(z) != Z_OK) throw InternalError("inflateReset failed");
      continue;
    }
    if (rc == Z_BUF_ERROR && z->avail_in == 0 && consumed == in.size()) {
      throw CorruptedError("gzip stream is truncated after " + std::to_string(used) +
                           " decoded bytes");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      throw CorruptedError(std::string("gzip stream is damaged at compressed byte offset ") +
                           std::to_string(consumed - z->avail_in) + ": " +
                           (z->msg != nullptr ? z->msg : "inflate error"));
    }
  }
  out.resize(used);
  return out;
}

class XzDecoder {
 public:
  XzDecoder() {
    if (lzma_stream_decoder(&stream_, std::numeric_limits<std::uint64_t>::max(),
                            LZMA_CONCATENATED) != LZMA_OK) {
      throw InternalError("lzma_stream_decoder failed");
    }
  }
  XzDecoder(const XzDecoder&) = delete;
  XzDecoder& operator=(const XzDecoder&) = delete;
  ~XzDecoder() { lzma_end(&stream_); }
  lzma_stream* get() { return &stream_; }

 private:
  lzma_stream stream_ = LZMA_STREAM_INIT;
};

std::string unxz(std::string_view in) {
  XzDecoder decoder;
  lzma_stream* x = decoder.get();
  x->next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  x->avail_in = in.size();
  std::string out;
  std::size_t used = 0;
  for (;;) {
    auto [dst, room] = free_tail(out, used);
    x->next_out = reinterpret_cast<std::uint8_t*>(dst);
    x->avail_out = room;
    // With LZMA_CONCATENATED, LZMA_FINISH tells the decoder no more streams follow.
    const lzma_ret rc = lzma_code(x, x->avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    used += room - x->avail_out;
    if (rc == LZMA_STREAM_END) break;
    if (rc == LZMA_OK) continue;
    if (rc == LZMA_BUF_ERROR) {
      throw CorruptedError("xz stream is truncated after " + std::to_string(used) +
                           " decoded bytes");
    }
    throw CorruptedError("xz stream is damaged at compressed byte offset " +
                         std::to_string(in.size() - x->avail_in) + " (lzma error " +
                         std::to_string(static_cast<int>(rc)) + ")");
  }
  out.resize(used);
  return out;
}

}  // namespace

Compression detect_compression(std::string_view bytes) noexcept {
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
      static_cast<unsigned char>(bytes[1]) == 0x8b) {
    return Compression::kGzip;
  }
  static constexpr unsigned char kXzMagic[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
  if (bytes.size() >= sizeof(kXzMagic) &&
      std::memcmp(bytes.data(), kXzMagic, sizeof(kXzMagic)) == 0) {
    return Compression::kXz;
  }
  return Compression::kNone;
}

std::string decompress(std::string_view bytes) {
  switch (detect_compression(bytes)) {
    case Compression::kGzip:
      return gunzip(bytes);
    case Compression::kXz:
      return unxz(bytes);
    case Compression::kNone:
      break;
  }
  return std::string(bytes);
}

std::string read_file_decompressed(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw InvalidArgumentError("cannot open trace file " + path.string());
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  std::string raw;
  if (!ec) {
    raw.resize(size);
    file.read(raw.data(), static_cast<std::streamsize>(size));
    raw.resize(static_cast<std::size_t>(file.gcount()));
  } else {
    raw.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  if (detect_compression(raw) == Compression::kNone) return raw;
  try {
    return decompress(raw);
  } catch (const CorruptedError& e) {
    // what() reads "corrupted: <message>"; keep one prefix.
    const std::string_view message = std::string_view(e.what()).substr(std::strlen("corrupted: "));
    throw CorruptedError(path.string() + ": " + std::string(message));
  }
}

std::string compress_gzip(std::string_view bytes) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw InternalError("deflateInit2 failed");
  }
  std::string out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw InternalError("deflate failed");
  return out;
}

std::string compress_xz(std::string_view bytes) {
  std::string out(lzma_stream_buffer_bound(bytes.size()), '\0');
  std::size_t position = 0;
  const lzma_ret rc = lzma_easy_buffer_encode(
      6, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const std::uint8_t*>(bytes.data()),
      bytes.size(), reinterpret_cast<std::uint8_t*>(out.data()), &position, out.size());
  if (rc != LZMA_OK) throw InternalError("lzma_easy_buffer_encode failed");
  out.resize(position);
  return out;
}

}  // namespace strata::sim
