#include "rped/service/daemon_start.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "rped/config/paths.h"
#include "rped/selftest.h"

namespace rped::service {

DaemonStart::DaemonStart(std::string program, const LogOptions& log, ReadinessReporter& readiness,
                         ServiceManager& manager)
    : program_(std::move(program)), log_(log), readiness_(readiness), manager_(manager) {}

bool DaemonStart::begin(std::string_view version, const std::filesystem::path& state_dir) {
  ::umask(027);
  auto log = open_log(log_);
  if (!log.ok()) {
    // No log to write to: the other three places only.
    readiness_.failed(log.error().message);
    manager_.failed(log.error().message);
    std::fprintf(stderr, "%s: %s\n", program_.c_str(), log.error().message.c_str());
    return false;
  }
  logger_ = std::move(log).value();
  if (auto tested = power_on_self_test(); !tested.ok()) {
    fail("power-on self-test failed: " + tested.error().message);
    return false;
  }
  logger_->info("{} {} starting (pid {}, uid {}); power-on self-test passed", program_, version,
                ::getpid(), ::geteuid());
  if (auto made = config::ensure_private_directory(state_dir); !made.ok()) {
    fail(made.error().message);
    return false;
  }
  return true;
}

int DaemonStart::fail(const std::string& why) {
  logger_->error("cannot start: {}", why);  // also on standard error when the log goes there
  readiness_.failed(why);
  manager_.failed(why);
  if (!log_.to_stderr) {
    std::fprintf(stderr, "%s: %s\n", program_.c_str(), why.c_str());
  }
  return kExitFailure;
}

}  // namespace rped::service
