// The emulated HSM's audit log memory (audit_log.h).
#include "rped/hsmsim/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>

#include "rped/config/atomic_file.h"
#include "rped/hsmsim/hsm.h"

namespace rped::hsmsim {

namespace {

constexpr std::chrono::milliseconds kBatchTimeout{30'000};
constexpr std::chrono::milliseconds kRetryPause{500};
// Rewrite audit.buffer once this many acknowledged records sit at its front.
constexpr std::size_t kCompactAfter = 1024;

Error io_error(const std::string& what, int error) {
  return make_error(Errc::io_failed, what + ": " + std::strerror(error));
}

Result<void> write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return io_error("writing the audit buffer", errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

struct AuditLog::Impl {
  std::filesystem::path file;
  audit::LogSecret secret;
  std::size_t capacity = 0;
  Logger log;

  mutable std::mutex mu;
  std::condition_variable cv;
  int fd = -1;
  std::deque<audit::RecordLine> lines;  // seq first_seq .. head.seq
  std::uint64_t first_seq = 1;
  audit::ChainHead head;       // seq 0: no record yet
  std::uint64_t acked = 0;     // highest durable seq pedclient reported
  std::uint64_t next_send = 1;
  bool resumed = false;        // pedclient sent audit_resume on this session
  bool stopping = false;
  std::chrono::steady_clock::time_point pause_until{};

  std::mutex link_mu;  // held across a call to the link; set_link waits on it
  PedclientLink* link = nullptr;
  std::thread streamer;

  void say(const std::string& text) const {
    if (log) {
      log(text);
    }
  }

  std::size_t unacked_locked() const { return static_cast<std::size_t>(head.seq - acked); }

  // Drops acknowledged records from memory and, now and then, from the file
  // (keeping the newest acknowledged one as the anchor of the chain head).
  void free_acked_locked() {
    while (!lines.empty() && first_seq < acked) {
      lines.pop_front();
      ++first_seq;
    }
    if (acked < file_first_seq + kCompactAfter) {
      return;
    }
    std::string contents;
    contents.reserve(lines.size() * audit::kRecordBytes);
    for (const audit::RecordLine& l : lines) {
      contents.append(l.data(), l.size());
    }
    if (auto written = config::write_file_atomically(file, contents); !written.ok()) {
      say("audit: cannot compact " + file.string() + ": " + written.error().message);
      return;
    }
    const int reopened = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (reopened < 0) {
      say("audit: cannot reopen " + file.string() + ": " + std::strerror(errno));
      return;
    }
    ::close(fd);
    fd = reopened;
    file_first_seq = first_seq;
  }
  std::uint64_t file_first_seq = 1;  // the sequence number of the file's first record

  void stream() {
    std::unique_lock lock(mu);
    for (;;) {
      if (stopping) {
        return;
      }
      if (!resumed || next_send > head.seq) {
        cv.wait(lock);
        continue;
      }
      if (std::chrono::steady_clock::now() < pause_until) {
        cv.wait_until(lock, pause_until);
        continue;
      }
      hsm::AuditRecords batch;
      batch.first_seq = std::max(next_send, first_seq);
      for (std::uint64_t s = batch.first_seq; s <= head.seq && batch.records.size() < hsm::kMaxAuditBatch; ++s) {
        batch.records.push_back(lines[static_cast<std::size_t>(s - first_seq)]);
      }
      const std::uint64_t last = batch.last_seq();
      next_send = last + 1;
      lock.unlock();
      const Bytes body = batch.serialize();
      LinkReply reply;
      {
        const std::lock_guard use(link_mu);
        if (link != nullptr) {
          reply = link->call(hsm::MessageType::audit_records, body, kBatchTimeout);
        }
      }
      lock.lock();
      switch (reply.kind) {
        case LinkReply::Kind::ok: {
          auto ack = hsm::AuditRecordsResponse::parse(reply.payload.reveal());
          if (!ack.ok()) {
            say("audit: bad acknowledgement from pedclient: " + ack.error().message);
            next_send = acked + 1;
            pause_until = std::chrono::steady_clock::now() + kRetryPause;
            break;
          }
          const std::uint64_t durable = std::min(ack->durable_seq, last);
          if (durable > acked) {
            acked = durable;
            free_acked_locked();
          }
          if (durable < last) {
            // pedclient could not make them all durable (its disk is full): resend later.
            next_send = std::max(acked + 1, first_seq);
            pause_until = std::chrono::steady_clock::now() + kRetryPause;
          }
          break;
        }
        case LinkReply::Kind::refused:
          say("audit: pedclient refused audit_records: " + reply.failure.message);
          next_send = std::max(acked + 1, first_seq);
          pause_until = std::chrono::steady_clock::now() + kRetryPause;
          break;
        case LinkReply::Kind::timed_out:
          next_send = std::max(acked + 1, first_seq);
          break;
        case LinkReply::Kind::not_running:
        case LinkReply::Kind::lost:
        default:
          resumed = false;  // the next pedclient says where to resume
          next_send = std::max(acked + 1, first_seq);
          break;
      }
    }
  }
};

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  Impl* const m = impl_.get();
  m->streamer = std::thread([m] { m->stream(); });
}

AuditLog::~AuditLog() {
  {
    const std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->streamer.join();
  if (impl_->fd >= 0) {
    ::close(impl_->fd);
  }
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(std::filesystem::path buffer_file,
                                                 audit::LogSecret secret, std::size_t capacity,
                                                 Logger log) {
  auto m = std::make_unique<Impl>();
  m->file = std::move(buffer_file);
  m->secret = std::move(secret);
  m->capacity = std::max<std::size_t>(capacity, 1);
  m->log = std::move(log);
  m->fd = ::open(m->file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (m->fd < 0) {
    return io_error("opening " + m->file.string(), errno);
  }
  std::string contents;
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::pread(m->fd, chunk, sizeof chunk, static_cast<off_t>(contents.size()));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int e = errno;
      ::close(m->fd);
      return io_error("reading " + m->file.string(), e);
    }
    if (n == 0) {
      break;
    }
    contents.append(chunk, static_cast<std::size_t>(n));
  }
  // A crash during a write leaves a torn tail: cut it at the last whole record.
  const std::size_t whole = contents.size() - contents.size() % audit::kRecordBytes;
  if (whole != contents.size()) {
    m->say("audit: " + m->file.string() + " ends in a torn record (" +
           std::to_string(contents.size() - whole) + " bytes): cut");
    if (::ftruncate(m->fd, static_cast<off_t>(whole)) != 0 || ::fdatasync(m->fd) != 0) {
      const int e = errno;
      ::close(m->fd);
      return io_error("truncating " + m->file.string(), e);
    }
  }
  for (std::size_t off = 0; off < whole; off += audit::kRecordBytes) {
    const std::string_view text(contents.data() + off, audit::kRecordBytes);
    auto rec = audit::AuditRecord::parse(text);
    if (!rec.ok() || (!m->lines.empty() && rec->seq != m->head.seq + 1)) {
      ::close(m->fd);
      return make_error(Errc::invalid_encoding,
                        m->file.string() + " is damaged at byte " + std::to_string(off) + ": " +
                            (rec.ok() ? "sequence numbers do not follow" : rec.error().message));
    }
    if (m->lines.empty()) {
      m->first_seq = rec->seq;
    }
    audit::RecordLine line{};
    std::copy(text.begin(), text.end(), line.begin());
    m->lines.push_back(line);
    // The head is recomputed from the record and its previous-HMAC field.
    RPED_TRY_ASSIGN(m->head.hmac, audit::chain_hmac(m->secret, text, rec->prev_hmac));
    m->head.seq = rec->seq;
  }
  // What pedclient holds is unknown until it resumes: everything in the file
  // is sent again from the anchor (pedclient skips what it has).
  m->acked = m->lines.empty() ? 0 : m->first_seq - 1;
  m->file_first_seq = m->first_seq;
  m->next_send = m->acked + 1;
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(m)));
}

Result<audit::ChainHead> AuditLog::append(audit::AuditEvent event, std::string_view text,
                                          bool reserved) {
  Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  const std::size_t limit = m.capacity + (reserved ? kAuditReserve : 0);
  if (m.unacked_locked() >= limit) {
    return make_error(Errc::busy, "the audit log is full: " + std::to_string(m.unacked_locked()) +
                                      " records wait for pedclient");
  }
  if (m.head.seq >= audit::kMaxSeq) {
    return make_error(Errc::busy, "the audit sequence number is exhausted");
  }
  event.seq = m.head.seq + 1;
  if (event.unix_time == 0) {
    event.unix_time = static_cast<std::int64_t>(std::time(nullptr));
  }
  audit::AuditRecord rec;
  rec.seq = event.seq;
  rec.unix_time = event.unix_time;
  rec.text = std::string(text);
  rec.prev_hmac = m.head.hmac;
  rec.raw = event.serialize();
  const audit::RecordLine line = rec.format();
  const std::string_view view(line.data(), line.size());
  RPED_TRY_ASSIGN(const audit::HmacTag hmac, audit::chain_hmac(m.secret, view, m.head.hmac));
  // Durable before the operation reports its result.
  if (auto w = write_all(m.fd, line.data(), line.size()); !w.ok()) {
    return std::move(w).error();
  }
  if (::fdatasync(m.fd) != 0) {
    return io_error("syncing the audit buffer", errno);
  }
  if (m.lines.empty()) {
    m.first_seq = event.seq;
    if (event.seq == 1) {
      m.file_first_seq = 1;
    }
  }
  m.lines.push_back(line);
  m.head = audit::ChainHead{event.seq, hmac};
  m.cv.notify_all();
  return m.head;
}

bool AuditLog::full() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->unacked_locked() >= impl_->capacity;
}

AuditLogStatus AuditLog::status() const {
  const std::lock_guard lock(impl_->mu);
  AuditLogStatus s;
  s.head = impl_->head;
  s.acknowledged = impl_->acked;
  s.unacknowledged = impl_->unacked_locked();
  s.capacity = impl_->capacity;
  s.full = s.unacknowledged >= s.capacity;
  s.streaming = impl_->resumed;
  return s;
}

void AuditLog::set_link(PedclientLink* link) {
  const std::lock_guard use(impl_->link_mu);
  impl_->link = link;
}

hsm::AuditResumeResponse AuditLog::on_resume(const hsm::AuditResumeRequest& request) {
  Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  if (request.last_seq > m.head.seq) {
    m.say("audit: pedclient holds record " + std::to_string(request.last_seq) +
          " but this HSM's newest is " + std::to_string(m.head.seq) +
          ": its log belongs to another chain or this HSM's buffer was lost");
  }
  const std::uint64_t held = std::min(request.last_seq, m.head.seq);
  if (held > m.acked) {
    m.acked = held;
    m.free_acked_locked();
  }
  m.next_send = std::max(m.acked + 1, m.first_seq);
  if (held + 1 < m.next_send) {
    m.say("audit: pedclient resumes after record " + std::to_string(held) +
          " but records up to " + std::to_string(m.next_send - 1) +
          " were acknowledged and freed: the host lost them");
  }
  m.resumed = true;
  m.pause_until = {};
  m.cv.notify_all();
  hsm::AuditResumeResponse response;
  response.next_seq = std::min(m.next_send, m.head.seq + 1);
  response.head_seq = m.head.seq;
  response.head_hmac = m.head.hmac;
  return response;
}

void AuditLog::on_detached() {
  const std::lock_guard lock(impl_->mu);
  impl_->resumed = false;
  impl_->next_send = std::max(impl_->acked + 1, impl_->first_seq);
}

}  // namespace rped::hsmsim
