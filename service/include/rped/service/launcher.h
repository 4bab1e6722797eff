// `pedserver -mode start` / `pedclient -mode start` without -foreground: start
// the background process and report how it went.
//
// The command re-executes itself (/proc/self/exe) with the same arguments plus
// -foreground, in a new session (setsid) with standard input, output and
// error on /dev/null, and gives the child the write end of a pipe
// (RPED_READY_FD). The daemon writes one line there -- "ready", "degraded
// <why>" or "error <why>" -- once its listeners are bound and its device (the
// PED, the HSM) was probed, or when it fails. The command waits for that line
// at most the start-up timeout (-bgprocessstartuptimeout, -pstartuptimeout),
// prints Luna's lines and exits 0, 3 (the daemon runs but its device is not
// there yet) or 1 (with the reason).
//
// Thread-safety: process-level; call from main() only.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace rped::service {

inline constexpr const char* kReadyFdVariable = "RPED_READY_FD";

// Exit statuses of `-mode start` (docs/pedserver.md, docs/pedclient.md "Exit status").
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
// The background daemon runs, but its device (PED, HSM) was not found at start;
// it keeps looking and serves it as soon as it appears.
inline constexpr int kExitStartedDegraded = 3;

struct LaunchOptions final {
  std::string program;       // "pedserver": argv[0] of the child, prefix of error lines
  std::string display_name;  // "Ped Server": Luna's start-up lines
  std::string version;
  std::vector<std::string> arguments;  // the command line without argv[0]
  std::chrono::seconds startup_timeout{10};
  std::string startup_timeout_option;  // "-bgprocessstartuptimeout", named when it expires
  std::filesystem::path log_file;      // named in failure messages
  // Printed after "Warning: <why>" when the daemon started degraded.
  std::string degraded_note;
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
  void ready_degraded(std::string_view why);  // e.g. the PED is not there yet
  void failed(std::string_view why);

 private:
  explicit ReadinessReporter(int fd) : fd_(fd) {}
  void report(std::string_view line);
  int fd_ = -1;
};

}  // namespace rped::service
