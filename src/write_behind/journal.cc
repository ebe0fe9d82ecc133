// journal.cc: the write-behind journal's file format.
//
// A journal directory holds:
//   journal-<first sequence, 20 digits>.log   segments, append-only
//   checkpoint                                 8-byte LE sequence + 4-byte LE crc32c of it
//   deadletters.log                            same format as a segment, records carry an error
//
// Every segment (and the dead-letter file) starts with the 8 magic bytes "STRATAJ1", then
// records back to back. A record, all integers little-endian:
//
//   offset  size  field
//   0       4     body length L (bytes after this 8-byte header)
//   4       4     crc32c of the body (the L bytes)
//   8       8     sequence (strictly increasing across the journal)
//   16      1     op: 1 = put, 2 = erase
//   17      4     key length K
//   21      4     value length W (0 for an erase)
//   25      K     key bytes
//   25+K    W     value bytes (the codec's encoding of V)
//   25+K+W  E     error message (E = L - 17 - K - W; 0 in segments, > 0 in dead letters)
//
// Invariants the scan relies on: a record is written with one write(2) of a buffer holding whole
// records, so a crash leaves at most a torn suffix; any bit flip in the body fails the CRC, any
// change of the length either runs past the end of the file (torn) or moves the body so the CRC
// fails (CRC-32C detects every 1-3 bit error in a body of this size). The scan stops at the first
// record that is torn or fails its checks and, when repairing, truncates the file there: what
// follows a bad record cannot be trusted to be framed correctly. Recovery reports each cut.
//
// Costs: encoding is a memcpy plus a table-driven CRC (about 1 ns/byte); the scan reads whole
// files into memory, which bounds a segment's useful size (segment_bytes, 64 MiB by default).
#include "write_behind/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/crc32c.h"
#include "strata/error.h"

namespace strata::write_behind {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}

void put_u64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}

std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

[[noreturn]] void throw_errno(const std::string& what, const std::filesystem::path& path) {
  throw UnavailableError("write-behind journal: " + what + " " + path.string() + ": " +
                         std::strerror(errno));
}

}  // namespace

void encode_record(std::string& out, std::uint64_t sequence, WriteOp op, std::string_view key,
                   std::string_view value, std::string_view error) {
  const std::size_t body = kBodyFixedBytes + key.size() + value.size() + error.size();
  if (body > kMaxRecordBody) {
    throw InvalidArgumentError("write-behind record of " + std::to_string(body) +
                               " bytes exceeds the 1 GiB limit");
  }
  const std::size_t start = out.size();
  put_u32(out, static_cast<std::uint32_t>(body));
  put_u32(out, 0);  // crc, filled below
  put_u64(out, sequence);
  out.push_back(static_cast<char>(op));
  put_u32(out, static_cast<std::uint32_t>(key.size()));
  put_u32(out, static_cast<std::uint32_t>(value.size()));
  out.append(key);
  out.append(value);
  out.append(error);
  const std::uint32_t crc =
      core::crc32c(std::string_view(out).substr(start + kRecordHeaderBytes, body));
  for (int i = 0; i < 4; ++i) out[start + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
}

Decoded decode_record(std::string_view bytes, Record* record) {
  Decoded d;
  if (bytes.empty()) return d;  // kEnd
  if (bytes.size() < kRecordHeaderBytes) {
    return {Decoded::Status::kTorn, 0, "partial record header"};
  }
  const std::uint32_t length = get_u32(bytes.data());
  const std::uint32_t crc = get_u32(bytes.data() + 4);
  if (length < kBodyFixedBytes || length > kMaxRecordBody) {
    return {Decoded::Status::kCorrupt, 0, "bad record length " + std::to_string(length)};
  }
  if (bytes.size() - kRecordHeaderBytes < length) {
    return {Decoded::Status::kTorn, 0, "partial record"};
  }
  const std::string_view body = bytes.substr(kRecordHeaderBytes, length);
  if (core::crc32c(body) != crc) return {Decoded::Status::kCorrupt, 0, "checksum mismatch"};
  const auto op = static_cast<unsigned char>(body[8]);
  const std::uint32_t key_len = get_u32(body.data() + 9);
  const std::uint32_t value_len = get_u32(body.data() + 13);
  if ((op != 1 && op != 2) ||
      static_cast<std::uint64_t>(key_len) + value_len > length - kBodyFixedBytes) {
    return {Decoded::Status::kCorrupt, 0, "inconsistent record fields"};
  }
  if (record != nullptr) {
    record->sequence = get_u64(body.data());
    record->op = static_cast<WriteOp>(op);
    record->key.assign(body.substr(kBodyFixedBytes, key_len));
    record->value.assign(body.substr(kBodyFixedBytes + key_len, value_len));
    record->error.assign(body.substr(kBodyFixedBytes + key_len + value_len));
  }
  return {Decoded::Status::kOk, kRecordHeaderBytes + length, {}};
}

File::File(const std::filesystem::path& path, int flags) : path_(path) {
  fd_ = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_errno("cannot open", path);
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

void File::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write", path_);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void File::sync() {
  if (::fdatasync(fd_) != 0) throw_errno("cannot fdatasync", path_);
}

void File::truncate(std::uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) throw_errno("cannot truncate", path_);
  if (::fsync(fd_) != 0) throw_errno("cannot fsync", path_);
}

std::string read_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open", path);
  std::string data;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      errno = saved;
      throw_errno("cannot read", path);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return data;
}

void sync_directory(const std::filesystem::path& dir) {
  File d(dir, O_RDONLY | O_DIRECTORY);
  d.sync();
}

std::filesystem::path segment_path(const std::filesystem::path& dir, std::uint64_t first) {
  char name[48];
  std::snprintf(name, sizeof name, "journal-%020llu.log", static_cast<unsigned long long>(first));
  return dir / name;
}

std::vector<std::pair<std::uint64_t, std::filesystem::path>> list_segments(
    const std::filesystem::path& dir) {
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 32 || name.rfind("journal-", 0) != 0 || name.substr(28) != ".log") continue;
    const std::string digits = name.substr(8, 20);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    out.emplace_back(std::stoull(digits), entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

File create_segment(const std::filesystem::path& path) {
  File file(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
  file.write_all(kFileMagic);
  file.sync();
  sync_directory(path.parent_path());
  return file;
}

ScanResult scan_file(const std::filesystem::path& path, bool repair) {
  ScanResult result;
  const std::string data = read_file(path);
  std::string_view rest(data);
  std::size_t offset = 0;
  std::string reason;
  if (rest.substr(0, kFileMagic.size()) != kFileMagic) {
    reason = data.size() < kFileMagic.size() ? "partial file header" : "bad file magic";
  } else {
    offset = kFileMagic.size();
    while (true) {
      Record record;
      const Decoded d = decode_record(rest.substr(offset), &record);
      if (d.status == Decoded::Status::kEnd) break;
      if (d.status != Decoded::Status::kOk) {
        reason = d.reason;
        break;
      }
      result.records.push_back(std::move(record));
      offset += d.size;
    }
  }
  result.valid_bytes = offset;
  if (offset < data.size() || !reason.empty()) {
    result.truncation = JournalTruncation{path.string(), offset, data.size() - offset, reason};
    if (repair) {
      File file(path, O_WRONLY);
      if (offset == 0) {
        // Not even the header survived: rewrite it so the file is a valid empty segment.
        file.truncate(0);
        file = File(path, O_WRONLY | O_APPEND);
        file.write_all(kFileMagic);
        file.sync();
        result.valid_bytes = kFileMagic.size();
      } else {
        file.truncate(offset);
      }
    }
  }
  return result;
}

std::uint64_t read_checkpoint(const std::filesystem::path& dir) {
  const auto path = dir / "checkpoint";
  if (!std::filesystem::exists(path)) return 0;
  const std::string data = read_file(path);
  if (data.size() != 12 ||
      core::crc32c(std::string_view(data).substr(0, 8)) != get_u32(data.data() + 8)) {
    // The checkpoint is written by rename, so a bad one is real corruption; 0 replays the whole
    // journal, which is safe (writes are idempotent upserts and deletes, replayed in order).
    return 0;
  }
  return get_u64(data.data());
}

void write_checkpoint(const std::filesystem::path& dir, std::uint64_t sequence) {
  std::string data;
  put_u64(data, sequence);
  put_u32(data, core::crc32c(data));
  const auto tmp = dir / "checkpoint.tmp";
  {
    File file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    file.write_all(data);
    file.sync();
  }
  std::error_code ec;
  std::filesystem::rename(tmp, dir / "checkpoint", ec);
  if (ec) {
    throw UnavailableError("write-behind journal: cannot rename " + tmp.string() + ": " +
                           ec.message());
  }
  sync_directory(dir);
}

std::filesystem::path dead_letter_path(const std::filesystem::path& dir) {
  return dir / "deadletters.log";
}

}  // namespace strata::write_behind
