// pedclient's audit-log store (docs/audit-log.md §4): the HSM's audit records
// made durable on the host, in the configured directory.
//
//   DIR/audit-<first seq, 10 digits>-<UTC yyyymmddThhmmssZ>.log
//
// Each file holds whole 448-byte records in sequence order; names sort by
// their first sequence number, so the log is the files in name order. A batch
// is acknowledged (its completion called with the highest durable sequence
// number) only after the records were written and fdatasync'd -- and, for a
// new file, after its directory entry was fsync'd. Group commit: every batch
// waiting when the writer wakes goes into one write and one fdatasync.
//
// Resuming: open() scans the newest file, cuts a torn last line (a crash
// mid-write), and continues exactly after the last whole record. Records at
// or below the durable sequence number are skipped (the HSM resends from what
// pedclient told it). A jump forward is accepted only for the first records
// after open() (the HSM freed records this host never stored: reported at
// error level, the verifier names the gap); later, records beyond the durable
// sequence number + 1 are neither stored nor acknowledged (an earlier batch was
// refused and the HSM resends from there), so the store never makes a gap.
//
// Rotation: by size (rotate_bytes) and by age (rotate_interval), checked
// before each record; 0 disables either.
//
// Disk space, in auditd's tiers: free space below warn_* is a warning, below
// critical_* an error (both reported through the event callback, which the
// daemon turns into log lines and sd_notify STATUS). A write that fails for
// lack of space (ENOSPC, EDQUOT) is undone (the file cut back to its last
// whole record): nothing more is acknowledged, the batches wait (while full,
// up to kMaxPendingBatches; older ones are answered with the unchanged durable seq,
// so the HSM keeps them and resends) and the writer retries every
// retry_interval, resuming by itself when space returns.
//
// Thread-safety: submit() and the accessors may be called from any thread;
// completions and events are called on the store's writer thread, one at a
// time, and must not block. No Asio here: the daemon posts from the callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "rped/audit/record.h"
#include "rped/hsm/backend_protocol.h"
#include "rped/result.h"

namespace rped::pedclient {

inline constexpr std::size_t kMaxPendingBatches = 64;

struct AuditStoreOptions {
  std::filesystem::path directory;
  std::uint64_t rotate_bytes = 100ULL << 20;      // 0: never by size
  std::chrono::seconds rotate_interval{86'400};   // 0: never by age
  // A tier applies when free space is below the larger of its two limits.
  std::uint64_t warn_free_bytes = 1ULL << 30;
  unsigned warn_free_percent = 10;
  std::uint64_t critical_free_bytes = 256ULL << 20;
  unsigned critical_free_percent = 5;
  std::chrono::milliseconds retry_interval{1'000};  // while the disk is full
};

enum class DiskTier : std::uint8_t { ok, warning, critical, full };
std::string_view disk_tier_name(DiskTier tier) noexcept;

struct AuditStoreEvent {
  enum class Level : std::uint8_t { info, warning, error };
  Level level = Level::info;
  DiskTier tier = DiskTier::ok;  // the tier after this event
  std::string message;           // for the log and STATUS=; never secret (there is none here)
};

struct AuditStoreStatus {
  std::uint64_t durable_seq = 0;
  audit::HmacTag last_prev_hmac{};  // the previous-HMAC field of record durable_seq
  DiskTier tier = DiskTier::ok;
  std::uint64_t free_bytes = 0;
  std::filesystem::path current_file;
  std::size_t pending_batches = 0;
  std::uint64_t syncs = 0;  // fdatasync calls so far (group commit: far fewer than batches)
};

class AuditStore final {
 public:
  using Completion = std::function<void(std::uint64_t durable_seq)>;
  using EventSink = std::function<void(const AuditStoreEvent&)>;

  // Creates the directory (0700) if needed, resumes after the last durable
  // record and starts the writer thread.
  static Result<std::unique_ptr<AuditStore>> open(AuditStoreOptions options, EventSink events = {});
  ~AuditStore();  // stops the writer; batches not yet durable are not acknowledged
  AuditStore(const AuditStore&) = delete;
  AuditStore& operator=(const AuditStore&) = delete;

  // Queues a batch; `done` gets the highest durable sequence number once the
  // batch's records are durable (at once when they all were already).
  void submit(hsm::AuditRecords batch, Completion done);
  // For the rotation `audit config` sets on the HSM (audit_resume's answer): 0 keeps the current.
  void set_rotation(std::uint64_t rotate_bytes, std::chrono::seconds rotate_interval);

  AuditStoreStatus status() const;
  // What audit_resume tells the HSM.
  hsm::AuditResumeRequest resume_request() const;

  struct Impl;

 private:
  explicit AuditStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The log files of a directory in log order (by first sequence number).
Result<std::vector<std::filesystem::path>> audit_log_files(const std::filesystem::path& directory);

}  // namespace rped::pedclient
