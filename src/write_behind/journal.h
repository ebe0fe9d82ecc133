// journal.h: the write-behind journal's on-disk pieces: the record codec, segment files, the
// checkpoint file and the scan that recovery uses. No threads here; write_behind_core.cc owns
// the locking. The byte layout is documented in journal.cc and docs/write-behind.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/write_behind/write_behind_options.h"

namespace strata::write_behind {

// Every segment and the dead-letter file start with these 8 bytes.
inline constexpr std::string_view kFileMagic{"STRATAJ1", 8};
// length (4) + crc32c (4).
inline constexpr std::size_t kRecordHeaderBytes = 8;
// sequence (8) + op (1) + key length (4) + value length (4).
inline constexpr std::size_t kBodyFixedBytes = 17;
// A record larger than this is treated as corruption.
inline constexpr std::uint32_t kMaxRecordBody = 1u << 30;

struct Record {
  std::uint64_t sequence = 0;
  WriteOp op = WriteOp::kPut;
  std::string key;
  std::string value;
  std::string error;  // empty in the journal; the reason in the dead-letter file
};

// Appends one encoded record to `out`.
void encode_record(std::string& out, std::uint64_t sequence, WriteOp op, std::string_view key,
                   std::string_view value, std::string_view error = {});

// The outcome of decoding one record at the start of `bytes`.
struct Decoded {
  enum class Status { kOk, kEnd, kTorn, kCorrupt };
  Status status = Status::kEnd;
  std::size_t size = 0;  // bytes the record occupies (kOk)
  std::string reason;    // kTorn / kCorrupt
};
[[nodiscard]] Decoded decode_record(std::string_view bytes, Record* record);

// An owned file descriptor (RAII).
class File {
 public:
  File() = default;
  // Opens `path` with open(2) flags; throws UnavailableError naming the path.
  File(const std::filesystem::path& path, int flags);
  File(File&& other) noexcept : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  // write(2) until everything is written; throws UnavailableError.
  void write_all(std::string_view bytes);
  // fdatasync(2); throws UnavailableError.
  void sync();
  // ftruncate(2) + fsync; throws UnavailableError.
  void truncate(std::uint64_t size);

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

// Reads a whole file; throws UnavailableError.
[[nodiscard]] std::string read_file(const std::filesystem::path& path);

// fsync of a directory, so that created, renamed and deleted entries are durable.
void sync_directory(const std::filesystem::path& dir);

// The journal segments in `dir`, as (first sequence, path), sorted by first sequence.
[[nodiscard]] std::vector<std::pair<std::uint64_t, std::filesystem::path>> list_segments(
    const std::filesystem::path& dir);
// "journal-<20-digit first sequence>.log".
[[nodiscard]] std::filesystem::path segment_path(const std::filesystem::path& dir,
                                                 std::uint64_t first_sequence);

// Creates a segment (magic written and synced, directory synced); returns it open for append.
[[nodiscard]] File create_segment(const std::filesystem::path& path);

// The records of a segment or dead-letter file up to the first bad one. With `repair`, a bad
// tail is cut off (ftruncate) and described in `truncation`.
struct ScanResult {
  std::vector<Record> records;
  std::uint64_t valid_bytes = 0;
  std::optional<JournalTruncation> truncation;
};
[[nodiscard]] ScanResult scan_file(const std::filesystem::path& path, bool repair);

// The checkpoint: the highest sequence such that it and every earlier record is in the source
// (or superseded, or dead-lettered). 0 when there is no checkpoint file.
[[nodiscard]] std::uint64_t read_checkpoint(const std::filesystem::path& dir);
// Writes checkpoint.tmp, fsyncs it, renames it over "checkpoint", fsyncs the directory.
void write_checkpoint(const std::filesystem::path& dir, std::uint64_t sequence);

// "deadletters.log".
[[nodiscard]] std::filesystem::path dead_letter_path(const std::filesystem::path& dir);

}  // namespace strata::write_behind
