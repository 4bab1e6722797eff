// Issue 7: pedclient's audit store with durability on, against the raw
// fdatasync'd append rate of the same disk, measured in the same run.
//
//   raw   one 448-byte write + fdatasync per record, in a loop: what a store
//         without group commit could do at most on this disk
//   ours  AuditStore (rped_audit) fed like the HSM feeds it: records made with
//         the real chain (HMAC-SHA256), a bounded HSM-side backlog, one
//         audit_records batch (<= 128 records) in flight, the next batch made
//         of whatever was created meanwhile; acknowledged after fdatasync
//
// Printed: raw appends/s, ours records/s, the ratio (target >= 0.5), and the
// latency from record creation to acknowledgement (p50, p99) at saturation and
// at an offered load equal to the raw rate. Wall-clock figures (this is I/O).
//
//   audit_bench [DIR] [SECONDS]     DIR: a directory on the disk to measure (default: the
//                                   temp directory); SECONDS per phase (default 3)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "rped/audit/record.h"
#include "rped/pedclient/audit_store.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace rped;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// One write + fdatasync per 448-byte record.
double raw_append_rate(const fs::path& dir, double seconds) {
  const fs::path file = dir / "raw-append.log";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::perror("raw append file");
    std::exit(1);
  }
  const std::string record(audit::kRecordBytes - 1, 'r');
  const std::string line = record + "\n";
  std::uint64_t n = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
        ::fdatasync(fd) != 0) {
      std::perror("raw append");
      std::exit(1);
    }
    ++n;
  }
  const double rate = static_cast<double>(n) / seconds_since(start);
  ::close(fd);
  fs::remove(file);
  return rate;
}

struct StoreResult {
  double records_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::uint64_t records = 0;
  std::uint64_t syncs = 0;
};

// The HSM side: a producer creating chained records (paced or flat out) into
// a bounded backlog, and a sender with one batch in flight.
StoreResult run_store(const fs::path& dir, double seconds, double offered_per_s) {
  fs::remove_all(dir);
  pedclient::AuditStoreOptions options;
  options.directory = dir;
  options.warn_free_bytes = options.critical_free_bytes = 0;
  options.warn_free_percent = options.critical_free_percent = 0;
  auto opened = pedclient::AuditStore::open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "audit_bench: %s\n", opened.error().message.c_str());
    std::exit(1);
  }
  pedclient::AuditStore& store = *opened.value();

  constexpr std::size_t kBacklog = 1024;  // the HSM's unacknowledged records, bounded
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<audit::RecordLine, Clock::time_point>> backlog;
  std::atomic<bool> stop{false};
  std::vector<double> latencies_ms;
  latencies_ms.reserve(1 << 20);

  std::thread producer([&] {
    audit::ChainWriter writer(audit::LogSecret{}, 0, audit::HmacTag{});
    audit::AuditEvent event;
    event.category = audit::Category::key_usage;
    event.event = audit::Event::key_usage;
    event.unix_time = 1'795'305'600;
    const auto start = Clock::now();
    std::uint64_t made = 0;
    while (!stop) {
      if (offered_per_s > 0) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(made) / offered_per_s));
        std::this_thread::sleep_until(due);
      }
      auto line = writer.append(event, "S/N 1234567 role co LUNA_KEY_USAGE returned CKR_OK(0x00000000)");
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return stop || backlog.size() < kBacklog; });
      backlog.emplace_back(line.value(), Clock::now());
      ++made;
      cv.notify_all();
    }
  });

  const auto start = Clock::now();
  std::uint64_t acked = 0;
  std::uint64_t next_seq = 1;
  while (seconds_since(start) < seconds) {
    hsm::AuditRecords batch;
    std::vector<Clock::time_point> created;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return !backlog.empty(); });
      batch.first_seq = next_seq;
      while (!backlog.empty() && batch.records.size() < hsm::kMaxAuditBatch) {
        batch.records.push_back(backlog.front().first);
        created.push_back(backlog.front().second);
        backlog.pop_front();
      }
      cv.notify_all();
    }
    next_seq += batch.records.size();
    std::promise<std::uint64_t> answer;
    store.submit(std::move(batch), [&](std::uint64_t durable) { answer.set_value(durable); });
    acked = answer.get_future().get();
    const auto now = Clock::now();
    for (const auto& t : created) {
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - t).count());
    }
  }
  const double elapsed = seconds_since(start);
  stop = true;
  cv.notify_all();
  producer.join();

  StoreResult r;
  r.records = acked;
  r.records_per_s = static_cast<double>(acked) / elapsed;
  r.syncs = store.status().syncs;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  if (!latencies_ms.empty()) {
    r.p50_ms = latencies_ms[latencies_ms.size() / 2];
    r.p99_ms = latencies_ms[std::min(latencies_ms.size() - 1, latencies_ms.size() * 99 / 100)];
  }
  opened.value().reset();
  fs::remove_all(dir);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path base = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path();
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  const fs::path dir = base / ("audit-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);

  std::printf("audit_bench: disk of %s, %.1f s per phase\n", base.c_str(), seconds);
  const double raw = raw_append_rate(dir, seconds);
  const StoreResult saturated = run_store(dir / "store", seconds, 0);
  const double ratio = saturated.records_per_s / raw;
  const StoreResult paced = run_store(dir / "store", seconds, raw);
  fs::remove_all(dir);

  std::printf("\n%-58s %14s\n", "measure", "value");
  std::printf("%-58s %14.0f\n", "raw: 448-byte write + fdatasync, appends/s", raw);
  std::printf("%-58s %14.0f\n", "ours: AuditStore durable records/s (saturated)", saturated.records_per_s);
  std::printf("%-58s %14.1f\n", "ours: records per fdatasync (group commit)",
              saturated.syncs == 0 ? 0.0
                                   : static_cast<double>(saturated.records) /
                                         static_cast<double>(saturated.syncs));
  std::printf("%-58s %14.2f\n", "creation -> ack latency p50, ms (saturated)", saturated.p50_ms);
  std::printf("%-58s %14.2f\n", "creation -> ack latency p99, ms (saturated)", saturated.p99_ms);
  std::printf("%-58s %14.0f\n", "offered load = raw rate, records/s acknowledged", paced.records_per_s);
  std::printf("%-58s %14.2f\n", "creation -> ack latency p50, ms (at the raw rate)", paced.p50_ms);
  std::printf("%-58s %14.2f\n", "creation -> ack latency p99, ms (at the raw rate)", paced.p99_ms);
  std::printf("\nratio ours/raw = %.2f (target >= 0.50): %s\n", ratio, ratio >= 0.5 ? "MET" : "MISSED");
  return 0;
}
