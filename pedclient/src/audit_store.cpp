// pedclient's audit-log store (audit_store.h, docs/audit-log.md §4).
#include "rped/pedclient/audit_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace rped::pedclient {

namespace {

using Clock = std::chrono::system_clock;
constexpr std::size_t kLine = audit::kRecordBytes;
constexpr std::string_view kPrefix = "audit-";
constexpr std::string_view kSuffix = ".log";
// audit-SSSSSSSSSS-YYYYMMDDTHHMMSSZ.log
constexpr std::size_t kNameBytes = kPrefix.size() + 10 + 1 + 16 + kSuffix.size();

Error io_error(const std::string& what, int error) {
  return make_error(error == ENOSPC || error == EDQUOT ? Errc::busy : Errc::io_failed,
                    what + ": " + std::strerror(error));
}

std::string utc_stamp(Clock::time_point t) {
  const std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &tm);
  return text;
}

std::optional<Clock::time_point> stamp_time(std::string_view stamp) {
  std::tm tm{};
  const std::string s(stamp);
  if (::strptime(s.c_str(), "%Y%m%dT%H%M%SZ", &tm) == nullptr) {
    return std::nullopt;
  }
  return Clock::from_time_t(timegm(&tm));
}

bool is_log_name(std::string_view name) {
  if (name.size() != kNameBytes || name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return false;
  }
  const std::string_view seq = name.substr(kPrefix.size(), 10);
  return std::all_of(seq.begin(), seq.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         name[kPrefix.size() + 10] == '-' &&
         stamp_time(name.substr(kPrefix.size() + 11, 16)).has_value();
}

Result<std::string> read_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return io_error("opening " + path.string(), errno);
  }
  std::string contents;
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return io_error("reading " + path.string(), e);
    }
    if (n == 0) {
      break;
    }
    contents.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return contents;
}

Result<void> fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return io_error("opening " + dir.string(), errno);
  }
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (rc != 0) {
    return io_error("syncing " + dir.string(), e);
  }
  return {};
}

}  // namespace

std::string_view disk_tier_name(DiskTier tier) noexcept {
  switch (tier) {
    case DiskTier::ok:
      return "ok";
    case DiskTier::warning:
      return "warning";
    case DiskTier::critical:
      return "critical";
    case DiskTier::full:
      return "full";
    default:
      return "unknown";
  }
}

Result<std::vector<std::filesystem::path>> audit_log_files(const std::filesystem::path& directory) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    if (entry.is_regular_file() && is_log_name(entry.path().filename().string())) {
      files.push_back(entry.path());
    }
  }
  if (ec) {
    return make_error(Errc::io_failed, "cannot list " + directory.string() + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

struct AuditStore::Impl {
  AuditStoreOptions options;
  EventSink events;

  // Shared with submit() and status().
  mutable std::mutex mu;
  std::condition_variable cv;
  struct Pending {
    hsm::AuditRecords batch;
    Completion done;
  };
  std::deque<Pending> pending;
  bool stopping = false;
  AuditStoreStatus published;
  // set_rotation(): applied by the writer between groups.
  std::uint64_t new_rotate_bytes = 0;
  std::chrono::seconds new_rotate_interval{0};

  // The writer thread's own.
  int fd = -1;
  std::filesystem::path current;
  std::uint64_t file_size = 0;
  Clock::time_point file_opened{};
  std::uint64_t durable_seq = 0;
  audit::HmacTag last_prev_hmac{};
  DiskTier tier = DiskTier::ok;
  std::uint64_t syncs = 0;
  bool stored_since_open = false;  // a forward jump is accepted only before the first record
  std::thread writer;

  void emit(AuditStoreEvent::Level level, std::string message) {
    if (events) {
      events(AuditStoreEvent{level, tier, std::move(message)});
    }
  }

  void publish() {
    const std::lock_guard lock(mu);
    published.durable_seq = durable_seq;
    published.last_prev_hmac = last_prev_hmac;
    published.tier = tier;
    published.current_file = current;
    published.pending_batches = pending.size();
  }

  // Free space against the tiers (auditd's space_left / admin_space_left).
  void check_space() {
    struct statvfs vfs {};
    if (::statvfs(options.directory.c_str(), &vfs) != 0) {
      return;
    }
    const std::uint64_t total = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    const std::uint64_t free = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    const auto limit = [&](std::uint64_t bytes, unsigned percent) {
      return std::max(bytes, total / 100 * percent);
    };
    DiskTier now = DiskTier::ok;
    if (free < limit(options.critical_free_bytes, options.critical_free_percent)) {
      now = DiskTier::critical;
    } else if (free < limit(options.warn_free_bytes, options.warn_free_percent)) {
      now = DiskTier::warning;
    }
    {
      const std::lock_guard lock(mu);
      published.free_bytes = free;
    }
    if (now == tier) {
      return;
    }
    const DiskTier before = tier;
    tier = now;
    const std::string where = options.directory.string();
    const std::string amount = std::to_string(free >> 10) + " KiB free";
    if (before == DiskTier::full) {
      emit(AuditStoreEvent::Level::info,
           "audit log disk has room again, storing and acknowledging resumed: " + amount + " in " +
               where);
      if (now == DiskTier::ok) {
        return;
      }
    }
    switch (now) {
      case DiskTier::critical:
        emit(AuditStoreEvent::Level::error,
             "audit log disk space critical: " + amount + " in " + where);
        break;
      case DiskTier::warning:
        emit(AuditStoreEvent::Level::warning,
             "audit log disk space low: " + amount + " in " + where);
        break;
      case DiskTier::ok:
      case DiskTier::full:
      default:
        emit(AuditStoreEvent::Level::info, "audit log disk space ok: " + amount + " in " + where);
        break;
    }
  }

  // A new file for records from `first_seq` on; its directory entry is
  // durable before any record in it is acknowledged.
  Result<void> rotate(std::uint64_t first_seq) {
    char seq[16];
    std::snprintf(seq, sizeof seq, "%010llu", static_cast<unsigned long long>(first_seq));
    const Clock::time_point now = Clock::now();
    const std::filesystem::path path =
        options.directory / (std::string(kPrefix) + seq + "-" + utc_stamp(now) + std::string(kSuffix));
    const int next = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (next < 0) {
      return io_error("creating " + path.string(), errno);
    }
    if (auto synced = fsync_directory(options.directory); !synced.ok()) {
      ::close(next);
      ::unlink(path.c_str());
      return synced;
    }
    if (fd >= 0) {
      ::close(fd);
    }
    fd = next;
    current = path;
    file_size = 0;
    file_opened = now;
    return {};
  }

  bool needs_rotation() const {
    if (fd < 0) {
      return true;
    }
    if (file_size == 0) {
      return false;
    }
    if (options.rotate_bytes != 0 && file_size + kLine > options.rotate_bytes) {
      return true;
    }
    return options.rotate_interval.count() != 0 &&
           Clock::now() - file_opened >= options.rotate_interval;
  }

  // Writes `chunk` (whole records, last seq `last`) and fdatasyncs it. On a
  // failure the file is cut back to its last whole record.
  Result<void> flush(std::string& chunk, std::uint64_t last, const audit::HmacTag& last_prev) {
    if (chunk.empty()) {
      return {};
    }
    const char* data = chunk.data();
    std::size_t left = chunk.size();
    while (left > 0) {
      const ssize_t n = ::write(fd, data, left);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        const int e = errno;
        if (::ftruncate(fd, static_cast<off_t>(file_size)) != 0) {
          emit(AuditStoreEvent::Level::error,
               "cannot cut " + current.string() + " back after a failed write: " +
                   std::strerror(errno));
        }
        return io_error("writing " + current.string(), e);
      }
      data += n;
      left -= static_cast<std::size_t>(n);
    }
    if (::fdatasync(fd) != 0) {
      const int e = errno;
      static_cast<void>(::ftruncate(fd, static_cast<off_t>(file_size)));
      return io_error("syncing " + current.string(), e);
    }
    ++syncs;
    file_size += chunk.size();
    chunk.clear();
    durable_seq = last;
    last_prev_hmac = last_prev;
    return {};
  }

  // One group commit: every record above durable_seq, in order.
  Result<void> write_group(const std::vector<Pending>& group) {
    std::string chunk;
    std::uint64_t chunk_last = durable_seq;
    audit::HmacTag chunk_prev = last_prev_hmac;
    for (const Pending& p : group) {
      for (std::size_t i = 0; i < p.batch.records.size(); ++i) {
        const std::uint64_t seq = p.batch.first_seq + i;
        if (seq <= chunk_last) {
          continue;  // a duplicate: the HSM resent what this host holds
        }
        if (seq != chunk_last + 1 && chunk_last != 0) {
          if (stored_since_open) {
            // An earlier batch was not stored (answered with the old durable
            // seq): the HSM resends from there. Storing this would make a gap.
            break;
          }
          // The first records after a resume: the HSM freed these (its answer
          // to audit_resume started later). They are lost; say so loudly.
          emit(AuditStoreEvent::Level::error,
               "audit records " + std::to_string(chunk_last + 1) + " to " +
                   std::to_string(seq - 1) +
                   " never reached this host: the HSM freed them (the log has a gap)");
        }
        stored_since_open = true;
        if (needs_rotation()) {
          RPED_TRY(flush(chunk, chunk_last, chunk_prev));
          RPED_TRY(rotate(seq));
        }
        const audit::RecordLine& line = p.batch.records[i];
        chunk.append(line.data(), line.size());
        chunk_last = seq;
        auto parsed = audit::parse_hmac_hex(
            std::string_view(line.data() + audit::kPrevHmacOffset, audit::kHmacHexChars));
        chunk_prev = parsed.ok() ? parsed.value() : audit::HmacTag{};
        // file_size grows only on flush; rotation by size counts what is queued too.
        if (options.rotate_bytes != 0 && file_size + chunk.size() + kLine > options.rotate_bytes) {
          RPED_TRY(flush(chunk, chunk_last, chunk_prev));
        }
      }
    }
    return flush(chunk, chunk_last, chunk_prev);
  }

  void run() {
    std::unique_lock lock(mu);
    auto retry_at = std::chrono::steady_clock::now();
    for (;;) {
      if (stopping) {
        return;
      }
      if (pending.empty()) {
        cv.wait(lock);
        continue;
      }
      if (tier == DiskTier::full && std::chrono::steady_clock::now() < retry_at) {
        cv.wait_until(lock, retry_at);
        continue;
      }
      if (new_rotate_bytes != 0) {
        options.rotate_bytes = std::exchange(new_rotate_bytes, 0);
      }
      if (new_rotate_interval.count() != 0) {
        options.rotate_interval = std::exchange(new_rotate_interval, std::chrono::seconds{0});
      }
      std::vector<Pending> group;
      group.reserve(pending.size());
      while (!pending.empty()) {
        group.push_back(std::move(pending.front()));
        pending.pop_front();
      }
      lock.unlock();

      const auto written = write_group(group);
      std::vector<Pending> waiting;  // not yet durable (the disk is full)
      if (written.ok()) {
        check_space();  // also leaves the full tier
      } else {
        if (tier != DiskTier::full) {
          tier = DiskTier::full;
          emit(AuditStoreEvent::Level::error,
               "audit log disk full (" + written.error().message +
                   "): records are no longer acknowledged, the HSM keeps them; retrying every " +
                   std::to_string(options.retry_interval.count()) + " ms");
        }
        retry_at = std::chrono::steady_clock::now() + options.retry_interval;
      }
      std::vector<Completion> answers;
      for (Pending& p : group) {
        if (p.batch.last_seq() <= durable_seq || written.ok()) {
          answers.push_back(std::move(p.done));
        } else {
          waiting.push_back(std::move(p));
        }
      }
      lock.lock();
      // Put what waits back in front, in order; beyond the bound the oldest are
      // answered with the unchanged durable seq (the HSM resends them).
      for (auto it = waiting.rbegin(); it != waiting.rend(); ++it) {
        pending.push_front(std::move(*it));
      }
      while (tier == DiskTier::full && pending.size() > kMaxPendingBatches) {
        answers.push_back(std::move(pending.front().done));
        pending.pop_front();
      }
      published.durable_seq = durable_seq;
      published.last_prev_hmac = last_prev_hmac;
      published.tier = tier;
      published.current_file = current;
      published.pending_batches = pending.size();
      published.syncs = syncs;
      const std::uint64_t durable = durable_seq;
      lock.unlock();
      // Acknowledged only now: after fdatasync (ENGINEERING: durability before the answer).
      for (Completion& done : answers) {
        if (done) {
          done(durable);
        }
      }
      lock.lock();
    }
  }

  // Resumes after the last whole record of the newest file (audit_store.h).
  Result<void> resume() {
    RPED_TRY_ASSIGN(std::vector<std::filesystem::path> files, audit_log_files(options.directory));
    while (!files.empty()) {
      const std::filesystem::path path = files.back();
      RPED_TRY_ASSIGN(std::string contents, read_file(path));
      std::size_t whole = contents.size() - contents.size() % kLine;
      // Cut a torn tail and any trailing whole lines that are not records
      // (zeros after a power loss): they were never acknowledged.
      std::optional<audit::AuditRecord> last;
      while (whole > 0) {
        auto rec = audit::AuditRecord::parse(std::string_view(contents).substr(whole - kLine, kLine));
        if (rec.ok()) {
          last = std::move(rec).value();
          break;
        }
        whole -= kLine;
      }
      if (whole != contents.size()) {
        emit(AuditStoreEvent::Level::warning,
             path.filename().string() + " ends in " + std::to_string(contents.size() - whole) +
                 " bytes that are not whole records (a crash while writing): cut");
        const int cut = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (cut < 0 || ::ftruncate(cut, static_cast<off_t>(whole)) != 0 || ::fsync(cut) != 0) {
          const int e = errno;
          if (cut >= 0) {
            ::close(cut);
          }
          return io_error("cutting " + path.string(), e);
        }
        ::close(cut);
      }
      if (!last) {
        // No record in it: created just before a crash. Remove it and look further back.
        if (::unlink(path.c_str()) != 0) {
          return io_error("removing the empty " + path.string(), errno);
        }
        RPED_TRY(fsync_directory(options.directory));
        files.pop_back();
        continue;
      }
      durable_seq = last->seq;
      last_prev_hmac = last->prev_hmac;
      fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      if (fd < 0) {
        return io_error("opening " + path.string(), errno);
      }
      current = path;
      file_size = whole;
      file_opened =
          stamp_time(path.filename().string().substr(kPrefix.size() + 11, 16)).value_or(Clock::now());
      break;
    }
    return {};
  }
};

AuditStore::AuditStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  Impl* const m = impl_.get();
  m->writer = std::thread([m] { m->run(); });
}

AuditStore::~AuditStore() {
  {
    const std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->writer.join();
  if (impl_->fd >= 0) {
    ::close(impl_->fd);
  }
}

Result<std::unique_ptr<AuditStore>> AuditStore::open(AuditStoreOptions options, EventSink events) {
  if (options.directory.empty()) {
    return make_error(Errc::invalid_argument, "the audit directory is not set");
  }
  std::error_code ec;
  if (std::filesystem::create_directories(options.directory, ec)) {
    std::filesystem::permissions(options.directory, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  if (ec || !std::filesystem::is_directory(options.directory)) {
    return make_error(Errc::io_failed, "cannot create the audit directory " +
                                           options.directory.string() +
                                           (ec ? ": " + ec.message() : std::string()));
  }
  auto m = std::make_unique<Impl>();
  m->options = std::move(options);
  m->events = std::move(events);
  RPED_TRY(m->resume());
  m->check_space();
  m->publish();
  return std::unique_ptr<AuditStore>(new AuditStore(std::move(m)));
}

void AuditStore::submit(hsm::AuditRecords batch, Completion done) {
  {
    const std::lock_guard lock(impl_->mu);
    impl_->pending.push_back(Impl::Pending{std::move(batch), std::move(done)});
    impl_->published.pending_batches = impl_->pending.size();
  }
  impl_->cv.notify_all();
}

void AuditStore::set_rotation(std::uint64_t rotate_bytes, std::chrono::seconds rotate_interval) {
  const std::lock_guard lock(impl_->mu);
  impl_->new_rotate_bytes = rotate_bytes;
  impl_->new_rotate_interval = rotate_interval;
}

AuditStoreStatus AuditStore::status() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->published;
}

hsm::AuditResumeRequest AuditStore::resume_request() const {
  const std::lock_guard lock(impl_->mu);
  hsm::AuditResumeRequest request;
  request.last_seq = impl_->published.durable_seq;
  request.last_prev_hmac = impl_->published.last_prev_hmac;
  return request;
}

}  // namespace rped::pedclient
