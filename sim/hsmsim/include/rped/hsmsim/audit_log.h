// The emulated HSM's audit log memory (docs/hsmsim.md §Audit log,
// docs/audit-log.md): records chained with HMAC-SHA256 under the log secret,
// kept until pedclient acknowledges them as durable, and streamed to it over
// the backend socket.
//
//   DIR/audit.buffer   the records pedclient has not acknowledged (448-byte
//                      lines), preceded by the newest acknowledged one (the
//                      anchor from which the chain head is recomputed after a
//                      restart). Each record is written and fdatasync'd before
//                      the operation that caused it reports its result, so an
//                      emulator restart loses nothing unacknowledged. A torn
//                      tail (a crash during a write) is cut at the last whole
//                      record on open.
//
// Capacity: `capacity` unacknowledged records. When it is reached the log is
// full: the HSM refuses further operations with CKR_LOG_FULL except the
// auditor's, whose records go into a small reserve (kAuditReserve).
//
// Streaming starts when pedclient sends audit_resume (the last record it
// holds) and runs on the log's own thread: one audit_records batch in flight;
// records are freed only up to the durable sequence number pedclient answers.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "rped/audit/record.h"
#include "rped/hsm/backend_protocol.h"
#include "rped/result.h"

namespace rped::hsmsim {

class PedclientLink;

inline constexpr std::size_t kDefaultAuditCapacity = 10'000;
inline constexpr std::size_t kAuditReserve = 64;  // for the auditor's records when full

struct AuditLogStatus {
  audit::ChainHead head;          // newest record and its HMAC
  std::uint64_t acknowledged = 0; // highest seq pedclient made durable (as far as known)
  std::size_t unacknowledged = 0;
  std::size_t capacity = 0;
  bool full = false;
  bool streaming = false;         // pedclient resumed and is attached
};

class AuditLog final {
 public:
  using Logger = std::function<void(std::string_view)>;
  static Result<std::unique_ptr<AuditLog>> open(std::filesystem::path buffer_file,
                                                audit::LogSecret secret, std::size_t capacity,
                                                Logger log);
  ~AuditLog();  // stops the streaming thread
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one record (seq and time set here), durable before it returns.
  // `reserved`: the auditor's event, which may use the reserve beyond capacity.
  // Errc::busy when the log (and, for `reserved`, the reserve) is full.
  Result<audit::ChainHead> append(audit::AuditEvent event, std::string_view text, bool reserved);
  bool full() const;
  AuditLogStatus status() const;

  // The backend socket (PedclientLink outlives every call between set_link(l) and set_link(nullptr);
  // set_link waits for a call in flight to return).
  void set_link(PedclientLink* link);
  hsm::AuditResumeResponse on_resume(const hsm::AuditResumeRequest& request);
  void on_detached();

  struct Impl;

 private:
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rped::hsmsim
