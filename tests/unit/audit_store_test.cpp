// pedclient's audit store (rped/pedclient/audit_store.h, docs/audit-log.md §4):
// acknowledgement only after the records are on disk, group commit, rotation,
// resume after a torn line without gap or duplicate, auditd-style disk tiers on
// a real 1 MiB filesystem, and kill -9 of a process running the real store at
// random moments, 50 times, with the whole log verifying afterwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "rped/audit/record.h"
#include "rped/pedclient/audit_store.h"
#include "support/result_assertions.h"

extern char** environ;

namespace rped::pedclient {
namespace {

using test::must;
namespace fs = std::filesystem;

class TempDir final {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "rped-audit-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

audit::LogSecret test_secret() {
  audit::LogSecret s;
  s.reveal_mutable()[0] = 0x42;
  return s;
}

// The HSM's side: a chain of records, made on demand.
class RecordSource final {
 public:
  const std::string& line(std::uint64_t seq) {
    while (lines_.size() < seq) {
      audit::AuditEvent e;
      e.category = audit::Category::external;
      e.event = audit::Event::key_usage;
      e.unix_time = 1'795'305'600 + static_cast<std::int64_t>(lines_.size());
      const audit::RecordLine l = must(writer_.append(e, "record " + std::to_string(lines_.size() + 1)));
      lines_.emplace_back(l.data(), l.size());
      heads_.push_back(writer_.last_hmac());
    }
    return lines_[seq - 1];
  }
  hsm::AuditRecords batch(std::uint64_t first, std::size_t count) {
    hsm::AuditRecords b;
    b.first_seq = first;
    for (std::size_t i = 0; i < count; ++i) {
      const std::string& l = line(first + i);
      audit::RecordLine r{};
      std::copy(l.begin(), l.end(), r.begin());
      b.records.push_back(r);
    }
    return b;
  }
  audit::ChainHead head(std::uint64_t seq) {
    line(seq);
    return audit::ChainHead{seq, heads_[seq - 1]};
  }

 private:
  audit::ChainWriter writer_{test_secret(), 0, audit::HmacTag{}};
  std::vector<std::string> lines_;
  std::vector<audit::HmacTag> heads_;
};

// Every file of the directory, in log order, through the verifier.
audit::VerifyVerdict verify_dir(const fs::path& dir, std::optional<audit::ChainHead> head) {
  audit::VerifyOptions options;
  options.hsm_head = head;
  audit::ChainVerifier verifier(test_secret(), options);
  for (const fs::path& file : must(audit_log_files(dir))) {
    std::ifstream in(file, std::ios::binary);
    std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (std::size_t off = 0, n = 1; off < contents.size(); off += audit::kRecordBytes, ++n) {
      verifier.feed(std::string_view(contents).substr(off, audit::kRecordBytes),
                    file.filename().string() + ":" + std::to_string(n));
    }
  }
  return verifier.finish();
}

AuditStoreOptions quiet_options(const fs::path& dir) {
  AuditStoreOptions o;
  o.directory = dir;
  o.warn_free_bytes = o.critical_free_bytes = 0;
  o.warn_free_percent = o.critical_free_percent = 0;
  return o;
}

// Submits and waits for the acknowledgement.
std::uint64_t store_and_wait(AuditStore& store, hsm::AuditRecords batch) {
  std::promise<std::uint64_t> acked;
  store.submit(std::move(batch), [&](std::uint64_t d) { acked.set_value(d); });
  return acked.get_future().get();
}

std::uint64_t file_records(const fs::path& dir) {
  std::uint64_t n = 0;
  for (const fs::path& f : must(audit_log_files(dir))) {
    n += fs::file_size(f) / audit::kRecordBytes;
  }
  return n;
}

TEST(AuditStore, AcknowledgesOnlyWhatIsOnDiskAndCommitsWaitingBatchesTogether) {
  TempDir dir;
  RecordSource hsm;
  auto store = must(AuditStore::open(quiet_options(dir.path())));
  // The completion runs on the writer: hold it while 100 more batches queue up.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  struct FirstAck {
    std::uint64_t durable = 0;
    std::uint64_t records_on_disk = 0;
  };
  std::promise<FirstAck> first_ack_promise;
  std::future<FirstAck> first_ack_future = first_ack_promise.get_future();
  store->submit(hsm.batch(1, 10), [&](std::uint64_t durable) {
    // Ordering: the acknowledged records are in the file before the answer.
    // Both facts are published together, so the test never reads one half.
    first_ack_promise.set_value(FirstAck{durable, file_records(dir.path())});
    released.wait();
  });
  // Generous: a loaded CI machine under ASan may take seconds for fdatasync.
  ASSERT_EQ(first_ack_future.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  const FirstAck first_ack = first_ack_future.get();
  EXPECT_EQ(first_ack.durable, 10u);
  EXPECT_GE(first_ack.records_on_disk, 10u);
  const std::uint64_t syncs_before = store->status().syncs;
  EXPECT_EQ(syncs_before, 1u);

  std::mutex mu;
  std::condition_variable all_acked;
  std::vector<std::uint64_t> acks;
  for (int i = 0; i < 100; ++i) {
    store->submit(hsm.batch(11 + static_cast<std::uint64_t>(i) * 5, 5), [&](std::uint64_t d) {
      const std::lock_guard lock(mu);
      acks.push_back(d);
      all_acked.notify_all();
    });
  }
  release.set_value();
  std::unique_lock lock(mu);
  all_acked.wait_for(lock, std::chrono::seconds(60), [&] { return acks.size() == 100; });
  ASSERT_EQ(acks.size(), 100u);
  for (const std::uint64_t d : acks) {
    EXPECT_EQ(d, 510u) << "all waiting batches became durable together";
  }
  EXPECT_EQ(store->status().syncs, syncs_before + 1) << "one fdatasync for 100 waiting batches";
  EXPECT_TRUE(verify_dir(dir.path(), hsm.head(510)).ok());
}

TEST(AuditStore, RotatesBySizeAndByAgeWithOrderedTimestampedNames) {
  TempDir dir;
  RecordSource hsm;
  AuditStoreOptions options = quiet_options(dir.path());
  options.rotate_bytes = 10 * audit::kRecordBytes;
  options.rotate_interval = std::chrono::seconds(1);
  {
    auto store = must(AuditStore::open(options));
    EXPECT_EQ(store_and_wait(*store, hsm.batch(1, 35)), 35u);
    auto files = must(audit_log_files(dir.path()));
    ASSERT_EQ(files.size(), 4u) << "10 + 10 + 10 + 5 records";
    EXPECT_EQ(files[0].filename().string().substr(0, 17), "audit-0000000001-");
    EXPECT_EQ(files[1].filename().string().substr(0, 17), "audit-0000000011-");
    EXPECT_EQ(files[3].filename().string().substr(0, 17), "audit-0000000031-");
    EXPECT_EQ(files[0].filename().string().size(), std::string("audit-0000000001-20261122T105100Z.log").size());
    EXPECT_EQ(fs::file_size(files[3]), 5 * audit::kRecordBytes);
    EXPECT_EQ(fs::status(files[0]).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    // By age: the open file is over a second old at the next record.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_EQ(store_and_wait(*store, hsm.batch(36, 2)), 37u);
    EXPECT_EQ(must(audit_log_files(dir.path())).size(), 5u);
    // The rotation audit config sets on the HSM, applied between groups.
    store->set_rotation(3 * audit::kRecordBytes, std::chrono::seconds(0));
    EXPECT_EQ(store_and_wait(*store, hsm.batch(38, 6)), 43u);
    EXPECT_EQ(must(audit_log_files(dir.path())).size(), 7u) << "36-37 (+38), 39-41, 42-43";
  }
  const audit::VerifyVerdict v = verify_dir(dir.path(), hsm.head(43));
  EXPECT_TRUE(v.ok()) << v.why;
  EXPECT_EQ(v.records, 43u);
}

TEST(AuditStore, ResumesAfterATornLineWithoutGapOrDuplicate) {
  TempDir dir;
  RecordSource hsm;
  {
    auto store = must(AuditStore::open(quiet_options(dir.path())));
    EXPECT_EQ(store_and_wait(*store, hsm.batch(1, 20)), 20u);
  }
  const fs::path file = must(audit_log_files(dir.path())).back();
  {
    std::ofstream torn(file, std::ios::app | std::ios::binary);
    torn << hsm.line(21).substr(0, 200);  // a crash in the middle of record 21
  }
  std::vector<std::string> events;
  auto store = must(AuditStore::open(quiet_options(dir.path()),
                                     [&](const AuditStoreEvent& e) { events.push_back(e.message); }));
  EXPECT_EQ(fs::file_size(file), 20 * audit::kRecordBytes) << "the torn line is cut";
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("not whole records"), std::string::npos);
  EXPECT_EQ(store->status().durable_seq, 20u);
  const hsm::AuditResumeRequest resume = store->resume_request();
  EXPECT_EQ(resume.last_seq, 20u);
  EXPECT_EQ(resume.last_prev_hmac, must(audit::AuditRecord::parse(hsm.line(20))).prev_hmac);
  // The HSM resends a little more than needed: duplicates are skipped.
  EXPECT_EQ(store_and_wait(*store, hsm.batch(15, 20)), 34u);
  EXPECT_EQ(store_and_wait(*store, hsm.batch(30, 5)), 34u) << "all duplicates: answered at once";
  const audit::VerifyVerdict v = verify_dir(dir.path(), hsm.head(34));
  EXPECT_TRUE(v.ok()) << v.why;
  EXPECT_EQ(v.records, 34u);
}

TEST(AuditStore, NeverStoresPastAMissingBatch) {
  TempDir dir;
  RecordSource hsm;
  {
    auto store = must(AuditStore::open(quiet_options(dir.path())));
    EXPECT_EQ(store_and_wait(*store, hsm.batch(1, 10)), 10u);
    // 11..20 never came (refused earlier): 21..30 is not stored, not acknowledged.
    EXPECT_EQ(store_and_wait(*store, hsm.batch(21, 10)), 10u);
    EXPECT_EQ(store_and_wait(*store, hsm.batch(11, 20)), 30u) << "the resend fills it";
  }
  EXPECT_EQ(verify_dir(dir.path(), hsm.head(30)).records, 30u);
  // Right after open, a forward jump is the HSM's (it freed records): stored, reported.
  std::vector<AuditStoreEvent> events;
  auto store = must(AuditStore::open(quiet_options(dir.path()),
                                     [&](const AuditStoreEvent& e) { events.push_back(e); }));
  EXPECT_EQ(store_and_wait(*store, hsm.batch(41, 5)), 45u);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].level, AuditStoreEvent::Level::error);
  EXPECT_NE(events[0].message.find("31 to 40 never reached this host"), std::string::npos);
  const audit::VerifyVerdict v = verify_dir(dir.path(), hsm.head(45));
  EXPECT_EQ(v.fault, audit::Fault::deleted) << "the verifier names the gap";
  EXPECT_EQ(v.bad_seq, 31u);
}

// A 1 MiB tmpfs mounted in a private mount namespace held by a child process;
// the test reaches it through /proc/<child>/root, so the host's mounts are
// never touched. Needs CAP_SYS_ADMIN (root in this CI).
class SmallFilesystem final {
 public:
  SmallFilesystem() {
    int ready[2];
    if (::pipe(ready) != 0) {
      return;
    }
    std::string pattern = (fs::temp_directory_path() / "rped-audit-mnt-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return;
    }
    mount_point_ = pattern;
    child_ = ::fork();
    if (child_ == 0) {
      // Async-signal-safe calls only (the parent has threads).
      char ok = '0';
      if (::unshare(CLONE_NEWNS) == 0 &&
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
          ::mount("tmpfs", pattern.c_str(), "tmpfs", 0, "size=1m,mode=0700") == 0) {
        ok = '1';
      }
      static_cast<void>(::write(ready[1], &ok, 1));
      for (;;) {
        ::pause();
      }
    }
    ::close(ready[1]);
    char ok = '0';
    if (child_ > 0 && ::read(ready[0], &ok, 1) == 1 && ok == '1') {
      path_ = fs::path("/proc") / std::to_string(child_) / "root" / mount_point_.relative_path();
    }
    ::close(ready[0]);
  }
  ~SmallFilesystem() {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove(mount_point_, ec);
  }
  bool usable() const { return !path_.empty(); }
  const fs::path& path() const { return path_; }

 private:
  pid_t child_ = -1;
  fs::path mount_point_;
  fs::path path_;
};

TEST(AuditStore, DiskTiersWarnThenCriticalThenFullStopsAcknowledgingAndResumesBySpace) {
  SmallFilesystem small;
  if (!small.usable()) {
    GTEST_SKIP() << "no private mount namespace with a tmpfs here (needs CAP_SYS_ADMIN): the "
                    "disk-full path is then covered only by the kill -9 and resume tests";
  }
  const fs::path dir = small.path() / "audit";
  // Space to give back later: 256 KiB of filler.
  const fs::path filler = small.path() / "filler";
  {
    std::ofstream f(filler, std::ios::binary);
    f << std::string(256 * 1024, 'f');
  }
  AuditStoreOptions options;
  options.directory = dir;
  options.warn_free_bytes = 600 * 1024;
  options.warn_free_percent = 0;
  options.critical_free_bytes = 300 * 1024;
  options.critical_free_percent = 0;
  options.retry_interval = std::chrono::milliseconds(50);
  std::mutex mu;
  std::vector<AuditStoreEvent> events;
  auto store = must(AuditStore::open(options, [&](const AuditStoreEvent& e) {
    const std::lock_guard lock(mu);
    events.push_back(e);
  }));
  RecordSource hsm;
  std::uint64_t next = 1;
  std::uint64_t durable = 0;
  // Fill: batches of 100 records (44.8 KB) until one is not acknowledged in time.
  for (int i = 0; i < 40; ++i) {
    std::promise<std::uint64_t> acked;
    auto answer = acked.get_future();
    auto shared = std::make_shared<std::promise<std::uint64_t>>(std::move(acked));
    store->submit(hsm.batch(next, 100), [shared](std::uint64_t d) { shared->set_value(d); });
    if (answer.wait_for(std::chrono::milliseconds(500)) != std::future_status::ready) {
      break;  // full: not acknowledged
    }
    durable = answer.get();
    next += 100;
  }
  const AuditStoreStatus full = store->status();
  EXPECT_EQ(full.tier, DiskTier::full);
  EXPECT_EQ(full.durable_seq, durable) << "nothing acknowledged beyond what is on disk";
  EXPECT_GT(durable, 0u);
  {
    const std::lock_guard lock(mu);
    std::vector<DiskTier> tiers;
    for (const AuditStoreEvent& e : events) {
      tiers.push_back(e.tier);
    }
    ASSERT_GE(tiers.size(), 3u);
    EXPECT_EQ(tiers[0], DiskTier::warning);
    EXPECT_EQ(events[0].level, AuditStoreEvent::Level::warning);
    EXPECT_EQ(tiers[1], DiskTier::critical);
    EXPECT_EQ(events[1].level, AuditStoreEvent::Level::error) << "critical is logged at error level";
    EXPECT_EQ(tiers.back(), DiskTier::full);
    EXPECT_EQ(events.back().level, AuditStoreEvent::Level::error);
  }
  // Every file holds whole records only (the failed write was undone).
  for (const fs::path& f : must(audit_log_files(dir))) {
    EXPECT_EQ(fs::file_size(f) % audit::kRecordBytes, 0u) << f;
  }
  EXPECT_EQ(file_records(dir), durable);

  // Space returns: the store resumes by itself and answers the waiting batch.
  fs::remove(filler);
  for (int i = 0; i < 200 && store->status().durable_seq < next + 99; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(store->status().durable_seq, next + 99);
  EXPECT_NE(store->status().tier, DiskTier::full);
  {
    const std::lock_guard lock(mu);
    const auto full_at = std::find_if(events.begin(), events.end(), [](const AuditStoreEvent& e) {
      return e.tier == DiskTier::full;
    });
    ASSERT_NE(full_at, events.end());
    EXPECT_TRUE(std::any_of(full_at, events.end(), [](const AuditStoreEvent& e) {
      return e.message.find("room again") != std::string::npos && e.tier != DiskTier::full;
    })) << "the store says it resumed";
  }
  const audit::VerifyVerdict v = verify_dir(dir, hsm.head(next + 99));
  EXPECT_TRUE(v.ok()) << v.why;
}

// The driver process (tests/audit/audit_store_driver.cpp) with pipes.
struct Driver {
  pid_t pid = -1;
  int in = -1;   // its stdin
  FILE* out = nullptr;  // its stdout

  Driver(const fs::path& dir, const std::string& rotate_bytes) {
    int to_child[2];
    int from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    const std::string program = RPED_AUDIT_STORE_DRIVER;
    const std::string d = dir.string();
    char* argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>(d.c_str()),
                    const_cast<char*>(rotate_bytes.c_str()), nullptr};
    if (::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ) != 0) {
      throw std::runtime_error("cannot start " + program);
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(to_child[0]);
    ::close(from_child[1]);
    in = to_child[1];
    out = ::fdopen(from_child[0], "r");
  }
  ~Driver() {
    if (in >= 0) {
      ::close(in);
    }
    if (out != nullptr) {
      std::fclose(out);
    }
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  // "WORD N", or nullopt at end of output.
  std::optional<std::pair<std::string, std::uint64_t>> next() {
    char line[128];
    if (std::fgets(line, sizeof line, out) == nullptr) {
      return std::nullopt;
    }
    char word[16] = {};
    unsigned long long n = 0;
    if (std::sscanf(line, "%15s %llu", word, &n) != 2) {
      return std::nullopt;
    }
    return std::pair{std::string(word), static_cast<std::uint64_t>(n)};
  }
};

TEST(AuditStoreCrash, KillNineAtRandomMomentsFiftyTimesLosesNothingAcknowledged) {
  ::signal(SIGPIPE, SIG_IGN);
  TempDir dir;
  RecordSource hsm;
  std::mt19937 rng(20261122);
  std::uint64_t max_acked = 0;
  int rounds_with_progress = 0;
  for (int round = 0; round < 50; ++round) {
    Driver driver(dir.path(), "1048576");
    const auto ready = driver.next();
    ASSERT_TRUE(ready && ready->first == "READY") << "round " << round;
    const std::uint64_t durable = ready->second;
    // Every record the store ever acknowledged survived the kill.
    ASSERT_GE(durable, max_acked) << "round " << round;
    // Like the HSM after audit_resume, with a few duplicates for good measure.
    const std::uint64_t from = durable + 1 - std::min<std::uint64_t>(durable, rng() % 4);
    std::atomic<bool> stop{false};
    std::thread feeder([&, fd = driver.in, from] {
      std::uint64_t seq = from;
      std::mt19937 local(static_cast<unsigned>(from));
      // A high-rate stream: up to 3000 records per round, in chunks of 1 to 64.
      while (!stop && seq < from + 3000) {
        std::string chunk;
        const std::uint64_t n = 1 + local() % 64;
        for (std::uint64_t i = 0; i < n; ++i) {
          chunk += hsm.line(seq + i);
        }
        if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
          return;
        }
        seq += n;
      }
    });
    std::atomic<std::uint64_t> acked_this_round{0};
    std::thread reader([&] {
      while (auto line = driver.next()) {
        if (line->first == "ACK") {
          acked_this_round = std::max(acked_this_round.load(), line->second);
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 30'000));
    ::kill(driver.pid, SIGKILL);
    ::waitpid(driver.pid, nullptr, 0);
    driver.pid = -1;
    stop = true;
    feeder.join();
    reader.join();
    max_acked = std::max(max_acked, acked_this_round.load());
    if (std::getenv("RPED_AUDIT_DEBUG") != nullptr) {
      const audit::VerifyVerdict rv = verify_dir(dir.path(), std::nullopt);
      std::fprintf(stderr, "round %d: ready %llu from %llu acked %llu verified %llu %s\n", round,
                   (unsigned long long)durable, (unsigned long long)from,
                   (unsigned long long)acked_this_round.load(), (unsigned long long)rv.records,
                   rv.why.c_str());
    }
    if (acked_this_round.load() > durable) {
      ++rounds_with_progress;
    }
  }
  // The final restart: the whole log verifies, records 1..durable exactly once.
  Driver last(dir.path(), "1048576");
  const auto ready = last.next();
  ASSERT_TRUE(ready && ready->first == "READY");
  const std::uint64_t durable = ready->second;
  EXPECT_GE(durable, max_acked);
  EXPECT_GT(durable, 1000u) << "the stream made progress";
  EXPECT_GT(rounds_with_progress, 25) << "most rounds stored records before the kill";
  const audit::VerifyVerdict v = verify_dir(dir.path(), hsm.head(durable));
  EXPECT_TRUE(v.ok()) << v.why << " at " << v.location;
  EXPECT_EQ(v.records, durable) << "every record exactly once: no gap, no duplicate";
  EXPECT_GT(must(audit_log_files(dir.path())).size(), 1u) << "rotation happened under the kills";
}

// pedaudit (tools/pedaudit): the auditor's verdict on a log the store wrote.
struct ToolRun {
  int status = -1;
  std::string output;
};

ToolRun run_pedaudit(const std::string& arguments) {
  const std::string command = std::string(RPED_PEDAUDIT) + " " + arguments + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ToolRun run;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
    run.output += buffer;
  }
  const int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(Pedaudit, VerifiesNamesTheFirstBadRecordAndExportsCsv) {
  TempDir dir;
  RecordSource hsm;
  const fs::path logs = dir.path() / "logs";
  AuditStoreOptions options = quiet_options(logs);
  options.rotate_bytes = 20 * audit::kRecordBytes;
  {
    auto store = must(AuditStore::open(options));
    EXPECT_EQ(store_and_wait(*store, hsm.batch(1, 50)), 50u);
  }
  const fs::path secret = dir.path() / "secret.hex";
  {
    std::ofstream out(secret);
    const audit::LogSecret s = test_secret();
    out << to_hex(s.reveal()) << "\n";
  }
  const std::string base = "verify -dir " + logs.string() + " -secret " + secret.string();
  ToolRun run = run_pedaudit(base + " -head " + hsm.head(50).to_string());
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("VERIFIED: 50 records (1 .. 50) in 3 file(s)"), std::string::npos)
      << run.output;
  run = run_pedaudit(base + " -from 30");
  EXPECT_EQ(run.status, 0) << run.output;

  // Truncation against the HSM's head, and an external head in a file.
  run = run_pedaudit(base + " -head " + hsm.head(52).to_string());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.output.find("FAILED: truncated: record 51"), std::string::npos) << run.output;
  {
    std::ofstream out(dir.path() / "head.txt");
    out << hsm.head(25).to_string() << "\n";
  }
  run = run_pedaudit(base + " -headfile " + (dir.path() / "head.txt").string());
  EXPECT_EQ(run.status, 0) << run.output;

  // One changed byte in record 22 (the second file's second line).
  const fs::path second = must(audit_log_files(logs))[1];
  {
    std::fstream f(second, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(audit::kRecordBytes + 40));
    f.put('#');
  }
  run = run_pedaudit(base);
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.output.find("FAILED: modified: record 22 (" + second.filename().string() + ":2)"),
            std::string::npos)
      << run.output;

  run = run_pedaudit("export -dir " + logs.string() + " -csv " + (dir.path() / "log.csv").string());
  EXPECT_EQ(run.status, 0) << run.output;
  std::ifstream csv(dir.path() / "log.csv");
  std::string header;
  std::string first;
  std::getline(csv, header);
  std::getline(csv, first);
  EXPECT_EQ(header, "sequence,time_utc,message,previous_hmac,raw_data");
  EXPECT_EQ(first.substr(0, 33), "1,2026-11-22T00:00:00Z,\"record 1\"");

  EXPECT_EQ(run_pedaudit("verify -dir " + logs.string()).status, 2) << "no -secret";
  EXPECT_EQ(run_pedaudit("frobnicate").status, 2);
}

}  // namespace
}  // namespace rped::pedclient
