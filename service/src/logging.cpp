#include "rped/service/logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rped/config/paths.h"
#include "rped/service/systemd.h"

namespace rped::service {
namespace {

constexpr const char* kLogPattern = "%Y-%m-%d %H:%M:%S.%e %-7l %v";

struct LevelSwitches final {
  bool info;
  bool warning;
  bool error;
  bool trace;

  bool enabled(spdlog::level::level_enum level) const noexcept {
    switch (level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        return trace;
      case spdlog::level::info:
        return info;
      case spdlog::level::warn:
        return warning;
      case spdlog::level::err:
      case spdlog::level::critical:
        return error;
      case spdlog::level::off:
      default:
        return false;
    }
  }
};

// Luna's switches are independent (-loginfo 0 -logerror 1 keeps errors but not
// information), which a single minimum level cannot express: each message is
// checked against its own switch before it reaches the real sinks.
class LevelFilterSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LevelFilterSink(std::vector<spdlog::sink_ptr> sinks, LevelSwitches switches)
      : sinks_(std::move(sinks)), switches_(switches) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    if (!switches_.enabled(message.level)) {
      return;
    }
    for (const spdlog::sink_ptr& target : sinks_) {
      target->log(message);
    }
  }
  void flush_() override {
    for (const spdlog::sink_ptr& target : sinks_) {
      target->flush();
    }
  }

 private:
  std::vector<spdlog::sink_ptr> sinks_;
  LevelSwitches switches_;
};

// Standard error when it is the journal (systemd.h, stderr_is_journal): each
// line carries its syslog priority as a "<N>" prefix, which journald strips
// and stores as PRIORITY= (sd-daemon(3)), so `journalctl -p err` finds the
// errors. No timestamp: the journal stamps every line itself.
class JournalStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  JournalStderrSink() { set_pattern_("%v"); }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(message, formatted);
    const std::string_view prefix = priority_prefix(message.level);
    std::string out;
    out.reserve(formatted.size() + prefix.size() + 1);
    out.append(prefix);
    std::string_view text(formatted.data(), formatted.size());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
      text.remove_suffix(1);  // the formatter's end of line; one is added below
    }
    for (const char c : text) {
      out.push_back(c);
      if (c == '\n') {
        out.append(prefix);  // a continuation line keeps the priority
      }
    }
    out.push_back('\n');
    (void)std::fwrite(out.data(), 1, out.size(), stderr);
  }
  void flush_() override { (void)std::fflush(stderr); }

 private:
  static std::string_view priority_prefix(spdlog::level::level_enum level) noexcept {
    switch (level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        return kJournalPrefixDebug;
      case spdlog::level::info:
        return kJournalPrefixInfo;
      case spdlog::level::warn:
        return kJournalPrefixWarning;
      case spdlog::level::err:
      case spdlog::level::critical:
      case spdlog::level::off:
      default:
        return kJournalPrefixError;
    }
  }
};

Error log_error(const std::filesystem::path& file, const std::string& reason) {
  return make_error(Errc::internal, "cannot write the log file " + file.string() + ": " + reason +
                                        " (choose another with -logfile)");
}

}  // namespace

Result<std::shared_ptr<spdlog::logger>> open_log(const LogOptions& options) {
  const std::filesystem::path& file = options.file;
  if (options.create_parent) {
    RPED_TRY(config::ensure_private_directory(file.parent_path()));
  }
  // Check first, with the exact reason: spdlog's own exception text is less precise.
  struct stat status {};
  if (::stat(file.c_str(), &status) == 0 && S_ISDIR(status.st_mode)) {
    return log_error(file, "it is a directory");
  }
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) {
    return log_error(file, std::strerror(errno));
  }
  ::close(fd);

  try {
    std::vector<spdlog::sink_ptr> sinks;
    auto rotating = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        file.string(), options.max_file_bytes, kLogBackupFiles);
    rotating->set_pattern(kLogPattern);
    sinks.push_back(std::move(rotating));
    if (options.to_stderr && options.detect_journal && stderr_is_journal()) {
      sinks.push_back(std::make_shared<JournalStderrSink>());
    } else if (options.to_stderr) {
      auto console = std::make_shared<spdlog::sinks::stderr_sink_mt>();
      console->set_pattern(kLogPattern);
      sinks.push_back(std::move(console));
    }
    auto filter = std::make_shared<LevelFilterSink>(
        std::move(sinks),
        LevelSwitches{options.info, options.warning, options.error, options.trace});
    auto logger = std::make_shared<spdlog::logger>(options.name, std::move(filter));
    logger->set_level(spdlog::level::trace);  // the filter decides
    logger->flush_on(spdlog::level::trace);   // a crash must not lose the last lines
    return logger;
  } catch (const spdlog::spdlog_ex& e) {
    return log_error(file, e.what());
  }
}

}  // namespace rped::service
