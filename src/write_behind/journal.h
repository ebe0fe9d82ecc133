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
  [[nodiscard]] int fd() const noexcept { return fd_; }

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

// A run of damaged bytes in the middle of a file (or a damaged tail that is not a crash's torn
// write), skipped by resynchronising on the next valid record.
struct DamagedRange {
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::string reason;
};

// What a scan found in one segment or dead-letter file.
struct ScanResult {
  std::vector<Record> records;  // every intact record, in file order
  // Where each record's bytes are (offset, size), parallel to `records`.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  std::uint64_t valid_bytes = 0;  // the end of the last intact record (or of the header)
  bool header_ok = true;          // the file starts with kFileMagic
  // Skipped damage: a damaged header, damaged records in the middle, a corrupt (not torn) tail.
  std::vector<DamagedRange> damaged;
  // The tail after the last intact record, when there is one (torn or corrupt).
  std::optional<JournalTruncation> truncation;
  bool tail_torn = false;  // the tail is a crash's partial write (a prefix of a record)
};

// Scans `data` (a whole file): every record that decodes and passes its CRC is kept; damage is
// skipped by trying each later offset until a record decodes again (resynchronisation). With
// `first_sequence` (a segment: its records are first_sequence, first_sequence + 1, ...), a
// resynchronised record must also have a sequence in the range the file can hold.
[[nodiscard]] ScanResult scan_bytes(std::string_view data, const std::string& file_name,
                                    std::optional<std::uint64_t> first_sequence);

// scan_bytes over a file. With `repair` (recovery, holding the directory lock): damaged bytes
// are copied into "<file>.<offset>.quarantine" files (fsynced) and the file is rewritten with
// only its intact records (write, fsync, rename, directory fsync); a torn tail alone is cut off
// with ftruncate. The quarantine paths are returned in `quarantined`.
[[nodiscard]] ScanResult scan_file(const std::filesystem::path& path, bool repair,
                                   std::optional<std::uint64_t> first_sequence = std::nullopt,
                                   std::vector<std::filesystem::path>* quarantined = nullptr);

// The quarantine files of `dir` ("*.quarantine"), sorted.
[[nodiscard]] std::vector<std::filesystem::path> list_quarantine(const std::filesystem::path& dir);

// The checkpoint: the highest sequence such that it and every earlier record is in the source
// (or superseded, or dead-lettered). 0 when there is no checkpoint file. The file holds two
// 12-byte slots (8-byte LE sequence + crc32c of it); the highest valid slot wins, so a torn
// write of one slot leaves the other. A 12-byte file (one slot) is read too.
[[nodiscard]] std::uint64_t read_checkpoint(const std::filesystem::path& dir);
// Why the checkpoint file is unreadable ("" when it is fine or absent).
[[nodiscard]] std::string checkpoint_problem(const std::filesystem::path& dir);
// Creates the two-slot file (both slots = sequence) by write to checkpoint.tmp, fsync, rename,
// directory fsync. Used at start-up, when the file is missing or in the one-slot format.
void create_checkpoint(const std::filesystem::path& dir, std::uint64_t sequence);
// Overwrites slot `slot` (0 or 1) in place (pwrite + fdatasync): no new file, no new block, so
// it works on a full disk (not on copy-on-write file systems, where it may still fail).
// Throws UnavailableError.
void write_checkpoint_slot(const std::filesystem::path& dir, int slot, std::uint64_t sequence);

// "lock": the directory's owner holds flock(LOCK_EX) on it and writes its pid into it.
[[nodiscard]] std::filesystem::path lock_path(const std::filesystem::path& dir);
// Takes the lock (non-blocking) and writes our pid; throws JournalLockedError naming the
// holder's pid when another open file description holds it.
[[nodiscard]] File lock_directory(const std::filesystem::path& dir);
// The pid written in the lock file (0 when there is none); reads only.
[[nodiscard]] long lock_file_pid(const std::filesystem::path& dir);

// "deadletters.log".
[[nodiscard]] std::filesystem::path dead_letter_path(const std::filesystem::path& dir);

}  // namespace strata::write_behind
