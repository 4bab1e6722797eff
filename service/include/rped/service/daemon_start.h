// run_daemon's first steps, the same in both daemons: umask 027, the log
// opened before anything else (so every later failure is in it), the
// power-on self-test (refuse to start when any primitive fails its known
// answer), the private state directory; and how a failure to start is
// reported: the log, the readiness pipe (`-mode start`), systemd, and
// standard error when the log does not go there already.
//
// Thread-safety: process-level; call from run_daemon() only.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "rped/service/launcher.h"
#include "rped/service/logging.h"
#include "rped/service/systemd.h"

namespace rped::service {

class DaemonStart final {
 public:
  // `program` ("pedserver") prefixes the lines on standard error. The
  // references must outlive this object.
  DaemonStart(std::string program, const LogOptions& log, ReadinessReporter& readiness,
              ServiceManager& manager);

  // The steps above; logs "<program> <version> starting (pid, uid); power-on
  // self-test passed". False when one failed (already reported).
  bool begin(std::string_view version, const std::filesystem::path& state_dir);

  // Valid after a successful begin().
  const std::shared_ptr<spdlog::logger>& logger() const noexcept { return logger_; }

  // Reports why the daemon cannot start; returns kExitFailure for run_daemon.
  int fail(const std::string& why);

 private:
  std::string program_;
  const LogOptions& log_;
  ReadinessReporter& readiness_;
  ServiceManager& manager_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace rped::service
