// journal.cc: the write-behind journal's file format.
//
// A journal directory holds:
//   lock                                       flock(LOCK_EX) by the owner; holds its pid
//   journal-<first sequence, 20 digits>.log   segments, append-only
//   checkpoint                                 two slots of 8-byte LE sequence + 4-byte LE crc32c
//   deadletters.log                            same format as a segment, records carry an error
//   <file>.<offset>.quarantine                 damaged bytes recovery cut out of <file>
//
// Every segment (and the dead-letter file) starts with the 8 magic bytes "STRATAJ1", then
// records back to back. A record, all integers little-endian:
//
//   offset  size  field
//   0       4     body length L (bytes after this 8-byte header)
//   4       4     crc32c of the body (the L bytes)
//   8       8     sequence (strictly increasing across the journal; in a segment, consecutive
//                 from the first sequence in its name)
//   16      1     op: 1 = put, 2 = erase
//   17      4     key length K
//   21      4     value length W (0 for an erase)
//   25      K     key bytes
//   25+K    W     value bytes (the codec's encoding of V)
//   25+K+W  E     error message (E = L - 17 - K - W; 0 in segments, > 0 in dead letters)
//
// The scan. A record is written with one write(2) of a buffer holding whole records, so a crash
// leaves at most a torn suffix: a record whose length runs past the end of the file. Any bit
// flip in a body fails the CRC, any change of the length either runs past the end of the file or
// moves the body so the CRC fails (CRC-32C detects every 1-3 bit error in a body of this size).
// After a bad record the scan resynchronises: it tries every later offset until a record decodes
// with plausible fields (op, lengths, and in a segment a sequence above the last good one and no
// more than the file could hold) and a matching CRC, and goes on from there. So damage in the
// middle of a file (or in its header) loses only the damaged records; the damaged bytes are
// reported as a DamagedRange. Only the bytes after the last intact record are a tail: torn (a
// crash's partial write, cut with ftruncate) or corrupt (quarantined like any damage). A false
// resynchronisation needs 4 bytes of CRC to match by chance after the field checks: about 2^-32
// per candidate offset, and the same odds as any CRC-guarded record format.
//
// The checkpoint is written in place into the slot holding the older value (pwrite + fdatasync):
// no file is created, so a full disk does not stop it, and a torn slot leaves the other one.
//
// Costs: encoding is a memcpy plus a table-driven CRC (about 1 ns/byte); the scan reads whole
// files into memory, which bounds a segment's useful size (segment_bytes, 64 MiB by default).
#include "write_behind/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
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

namespace {

// Cheap checks before a resynchronisation candidate's CRC: the fixed fields must be plausible
// and, in a segment, the sequence within [lo, hi].
bool plausible_at(std::string_view bytes, std::uint64_t lo, std::uint64_t hi) {
  if (bytes.size() < kRecordHeaderBytes + kBodyFixedBytes) return false;
  const std::uint32_t length = get_u32(bytes.data());
  if (length < kBodyFixedBytes || length > kMaxRecordBody ||
      length > bytes.size() - kRecordHeaderBytes) {
    return false;
  }
  const char* body = bytes.data() + kRecordHeaderBytes;
  const auto op = static_cast<unsigned char>(body[8]);
  if (op != 1 && op != 2) return false;
  if (static_cast<std::uint64_t>(get_u32(body + 9)) + get_u32(body + 13) >
      length - kBodyFixedBytes) {
    return false;
  }
  const std::uint64_t seq = get_u64(body);
  return seq >= lo && seq <= hi;
}

}  // namespace

ScanResult scan_bytes(std::string_view data, const std::string& file_name,
                      std::optional<std::uint64_t> first_sequence) {
  ScanResult result;
  std::size_t offset = 0;
  // The sequences a resynchronised record may carry: a segment's records are consecutive from
  // the first sequence in its name, at least 25 bytes each.
  std::uint64_t lo = first_sequence.value_or(0);
  const std::uint64_t hi =
      first_sequence ? *first_sequence + data.size() / (kRecordHeaderBytes + kBodyFixedBytes) + 1
                     : ~std::uint64_t{0};
  // The next offset >= from where an intact record starts, or npos.
  const auto resync = [&](std::size_t from) {
    for (std::size_t p = from; p + kRecordHeaderBytes + kBodyFixedBytes <= data.size(); ++p) {
      const std::string_view rest = data.substr(p);
      if (plausible_at(rest, lo, hi) &&
          decode_record(rest, nullptr).status == Decoded::Status::kOk) {
        return p;
      }
    }
    return std::string_view::npos;
  };
  if (data.substr(0, kFileMagic.size()) == kFileMagic) {
    offset = kFileMagic.size();
  } else {
    result.header_ok = false;
    const bool torn_header =
        data.size() < kFileMagic.size() && kFileMagic.substr(0, data.size()) == data;
    const std::size_t next = torn_header ? std::string_view::npos : resync(0);
    if (next == std::string_view::npos) {
      // No record anywhere: the whole file is the (torn or damaged) tail.
      result.truncation = JournalTruncation{
          file_name, 0, data.size(),
          data.size() < kFileMagic.size() ? "partial file header" : "bad file magic"};
      result.tail_torn = torn_header;
      if (!torn_header) result.damaged.push_back({0, data.size(), result.truncation->reason});
      return result;
    }
    result.damaged.push_back({0, next, "bad file magic"});
    offset = next;
  }
  while (offset < data.size()) {
    Record record;
    const Decoded d = decode_record(data.substr(offset), &record);
    if (d.status == Decoded::Status::kOk) {
      if (first_sequence) lo = std::max(lo, record.sequence + 1);  // segments only
      result.records.push_back(std::move(record));
      result.spans.emplace_back(offset, d.size);
      offset += d.size;
      continue;
    }
    const std::size_t next = resync(offset + 1);
    if (next == std::string_view::npos) {
      result.truncation = JournalTruncation{file_name, offset, data.size() - offset, d.reason};
      result.tail_torn = d.status == Decoded::Status::kTorn;
      if (!result.tail_torn) result.damaged.push_back({offset, data.size() - offset, d.reason});
      break;
    }
    result.damaged.push_back({offset, next - offset, d.reason});
    offset = next;
  }
  if (!result.spans.empty()) {
    result.valid_bytes = result.spans.back().first + result.spans.back().second;
  } else {
    result.valid_bytes = result.header_ok ? kFileMagic.size() : 0;
  }
  return result;
}

ScanResult scan_file(const std::filesystem::path& path, bool repair,
                     std::optional<std::uint64_t> first_sequence,
                     std::vector<std::filesystem::path>* quarantined) {
  const std::string data = read_file(path);
  ScanResult result = scan_bytes(data, path.string(), first_sequence);
  if (!repair || (result.damaged.empty() && !result.truncation && result.header_ok)) return result;
  const auto dir = path.parent_path();
  // 1. A copy of every damaged range, durable before the file loses it.
  for (const auto& range : result.damaged) {
    const std::filesystem::path q(path.string() + "." + std::to_string(range.offset) +
                                  ".quarantine");
    File file(q, O_WRONLY | O_CREAT | O_TRUNC);
    file.write_all(std::string_view(data).substr(range.offset, range.bytes));
    file.sync();
    if (quarantined != nullptr) quarantined->push_back(q);
  }
  if (!result.damaged.empty()) sync_directory(dir);
  if (result.damaged.empty() && result.header_ok) {
    // Only a crash's torn tail: cut it.
    File file(path, O_WRONLY);
    file.truncate(result.valid_bytes);
    return result;
  }
  // 2. The file again with only its intact records (a valid header first), replacing it
  // atomically.
  std::string clean(kFileMagic);
  for (const auto& [at, size] : result.spans) clean.append(data, at, size);
  const std::filesystem::path tmp(path.string() + ".tmp");
  {
    File file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    file.write_all(clean);
    file.sync();
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    throw UnavailableError("write-behind journal: cannot rename " + tmp.string() + ": " +
                           ec.message());
  }
  sync_directory(dir);
  result.valid_bytes = clean.size();
  return result;
}

std::vector<std::filesystem::path> list_quarantine(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".quarantine") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

constexpr std::size_t kSlotBytes = 12;

std::string encode_slot(std::uint64_t sequence) {
  std::string data;
  put_u64(data, sequence);
  put_u32(data, core::crc32c(data));
  return data;
}

// The valid slots' highest sequence; nullopt (with `why`) when no slot is valid.
std::optional<std::uint64_t> parse_checkpoint(const std::string& data, std::string* why) {
  if (data.size() != kSlotBytes && data.size() != 2 * kSlotBytes) {
    if (why != nullptr) *why = "size " + std::to_string(data.size()) + ", want 12 or 24";
    return std::nullopt;
  }
  std::optional<std::uint64_t> best;
  for (std::size_t at = 0; at + kSlotBytes <= data.size(); at += kSlotBytes) {
    const std::string_view slot = std::string_view(data).substr(at, kSlotBytes);
    if (core::crc32c(slot.substr(0, 8)) != get_u32(slot.data() + 8)) continue;
    best = std::max(best.value_or(0), get_u64(slot.data()));
  }
  if (!best && why != nullptr) *why = "checksum mismatch";
  return best;
}

}  // namespace

std::uint64_t read_checkpoint(const std::filesystem::path& dir) {
  const auto path = dir / "checkpoint";
  if (!std::filesystem::exists(path)) return 0;
  // A slot is only overwritten while the other one holds the previous checkpoint, so no valid
  // slot at all is real corruption; 0 replays the whole journal, which is safe (writes are
  // idempotent upserts and deletes, replayed in order).
  return parse_checkpoint(read_file(path), nullptr).value_or(0);
}

std::string checkpoint_problem(const std::filesystem::path& dir) {
  const auto path = dir / "checkpoint";
  if (!std::filesystem::exists(path)) return {};
  std::string why;
  (void)parse_checkpoint(read_file(path), &why);
  return why;
}

void create_checkpoint(const std::filesystem::path& dir, std::uint64_t sequence) {
  const std::string data = encode_slot(sequence) + encode_slot(sequence);
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

void write_checkpoint_slot(const std::filesystem::path& dir, int slot, std::uint64_t sequence) {
  const auto path = dir / "checkpoint";
  File file(path, O_WRONLY);  // never O_CREAT: the file exists since start-up
  const std::string data = encode_slot(sequence);
  const auto at = static_cast<off_t>(slot == 0 ? 0 : kSlotBytes);
  const ssize_t n = ::pwrite(file.fd(), data.data(), data.size(), at);
  if (n != static_cast<ssize_t>(data.size())) {
    if (n >= 0) errno = ENOSPC;
    throw_errno("cannot write", path);
  }
  file.sync();
}

std::filesystem::path lock_path(const std::filesystem::path& dir) {
  return dir / "lock";
}

long lock_file_pid(const std::filesystem::path& dir) {
  const auto path = lock_path(dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  ::close(fd);
  if (n <= 0) return 0;
  return std::strtol(buffer, nullptr, 10);
}

File lock_directory(const std::filesystem::path& dir) {
  File file(lock_path(dir), O_RDWR | O_CREAT);
  if (::flock(file.fd(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throw_errno("cannot lock", lock_path(dir));
    // The holder writes its pid right after taking the lock: allow it a moment if it has not.
    long pid = lock_file_pid(dir);
    for (int i = 0; i < 100 && pid == 0; ++i) {
      ::usleep(1000);
      pid = lock_file_pid(dir);
    }
    throw JournalLockedError(dir, pid);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(file.fd(), 0) != 0 ||
      ::pwrite(file.fd(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    throw_errno("cannot write", lock_path(dir));
  }
  return file;
}

std::filesystem::path dead_letter_path(const std::filesystem::path& dir) {
  return dir / "deadletters.log";
}

}  // namespace strata::write_behind
