// A daemon's log: spdlog with a size-rotated file and Luna's four level
// switches (-loginfo, -logwarning, -logerror, -logtrace), each independent.
//
// Nothing secret is ever logged: log lines are built from peers, session ids,
// operation names, status codes and lengths. SecretBytes has no fmt formatter,
// so passing one to the logger does not compile; payloads are never logged.
//
// Thread-safety: the logger is spdlog's multi-threaded kind.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "rped/result.h"

namespace spdlog {
class logger;
}

namespace rped::service {

inline constexpr std::size_t kLogBackupFiles = 3;  // pedserver.1.log .. pedserver.3.log

struct LogOptions final {
  std::string name;  // the logger's name: the daemon
  std::filesystem::path file;
  std::size_t max_file_bytes = 4096 * 1024;
  bool info = true;
  bool warning = true;
  bool error = true;
  bool trace = false;
  bool create_parent = false;  // the default location: make the private directory if missing
  bool to_stderr = false;      // also on standard error (foreground runs)
  // When standard error is the journal (systemd.h, stderr_is_journal), lines
  // there carry "<N>" priority prefixes instead of a timestamp and level.
  bool detect_journal = true;
};

// Opens (creates) the log file. A file that cannot be written is a clear error
// naming it and the reason, so `-mode start` can report it instead of hanging.
Result<std::shared_ptr<spdlog::logger>> open_log(const LogOptions& options);

}  // namespace rped::service
