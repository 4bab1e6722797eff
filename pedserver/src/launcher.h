// `pedserver -mode start` without -foreground: start the background process
// and report how it went.
//
// The command re-executes itself (/proc/self/exe) with the same arguments plus
// -foreground, in a new session (setsid) with standard input, output and
// error on /dev/null, and gives the child the write end of a pipe
// (PEDSERVER_READY_FD). The daemon writes one line there -- "ready", "noped
// <why>" or "error <why>" -- once its listeners are bound and the PED was
// probed, or when it fails. The command waits for that line at most
// -bgprocessstartuptimeout seconds, prints Luna's lines and exits 0, 3 (the
// server runs but found no PED) or 1 (with the reason).
//
// Thread-safety: process-level; call from main() only.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace rped::pedserver {

inline constexpr const char* kReadyFdVariable = "PEDSERVER_READY_FD";

struct LaunchOptions final {
  std::vector<std::string> arguments;  // the command line without argv[0]
  std::chrono::seconds startup_timeout{10};
  std::filesystem::path log_file;  // named in failure messages
};

// Returns the exit status for main().
int launch_background(const LaunchOptions& options);

// The daemon's side: reports readiness once through the pipe named in the
// environment (absent in a plain -foreground run, where it only logs).
class ReadinessReporter final {
 public:
  static ReadinessReporter from_environment();
  ReadinessReporter(ReadinessReporter&& other) noexcept;
  ReadinessReporter& operator=(ReadinessReporter&&) = delete;
  ReadinessReporter(const ReadinessReporter&) = delete;
  ReadinessReporter& operator=(const ReadinessReporter&) = delete;
  ~ReadinessReporter();

  bool attached() const noexcept { return fd_ >= 0; }
  void ready();
  void ready_without_ped(std::string_view why);
  void failed(std::string_view why);

 private:
  explicit ReadinessReporter(int fd) : fd_(fd) {}
  void report(std::string_view line);
  int fd_ = -1;
};

}  // namespace rped::pedserver
