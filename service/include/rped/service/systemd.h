// The daemons' side of systemd: readiness, status, watchdog, shutdown
// notifications and socket activation -- the sd-daemon protocol (sd_notify(3),
// sd_watchdog_enabled(3), sd_listen_fds(3), sd_is_socket_inet(3)).
//
// Every sd-daemon call of the project is in service/src/systemd.cpp and nowhere
// else. A build without libsystemd (RPED_WITH_SYSTEMD=OFF, or no libsystemd
// found by pkg-config) compiles them out: every notification is a no-op, the
// watchdog is off, and socket activation is refused with a clear error when
// LISTEN_FDS asks for it (rather than silently binding a second socket).
//
// Outside systemd (no NOTIFY_SOCKET, no LISTEN_FDS, no WATCHDOG_USEC) the same
// calls are no-ops too, so the daemons call them unconditionally.
//
// Usage in a daemon (pedserver's daemon.cpp is the model; pedclient does the same):
//   main():     ServiceManager manager = ServiceManager::from_environment();   // first, one thread
//   listeners:  RPED_TRY_ASSIGN(auto fds, manager.listen_fds(expectation));  // empty: bind
//   yourself ready:      manager.ready();                  // listeners bound, device probed state:
//   ServiceHeartbeat (heartbeat.h)    // STATUS= on change, WATCHDOG=1 at half the interval
//   shutdown:   manager.stopping();               // first thing in the shutdown path
//   failure:    manager.failed(why);              // STATUS= with the reason, before exiting
//   non-zero
//
// Thread-safety: from_environment() and listen_fds() at start-up on one thread
// (sd_listen_fds unsets the LISTEN_* variables). The notifications may be
// called from any one thread at a time (the daemon's io_context thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rped/result.h"

namespace rped::service {

// What the listening sockets a service manager passes must be.
struct ListenExpectation final {
  std::string program;         // "pedserver": in error messages
  std::string what;            // "HSM connections": in error messages
  std::string unit;            // "pedserver.socket": what the operator must change
  std::uint16_t port = 0;      // each socket must listen on this port (-port)
  std::string port_option;     // "-port"
  bool loopback_only = false;  // -eserverport 0: each socket bound to a loopback address
};

// A socket systemd passed, checked.
struct ListenSocket final {
  int fd = -1;
  int family = 0;     // AF_INET or AF_INET6
  std::string name;   // FileDescriptorName= (systemd's default: the socket unit's name)
  std::string local;  // "127.0.0.1:1503", "[::]:1503"
};

// The priority prefix a line written to stderr carries when stderr is the
// journal: "<3>" (error) ... "<7>" (debug), as sd-daemon.h's SD_ERR etc.
inline constexpr std::string_view kJournalPrefixError = "<3>";
inline constexpr std::string_view kJournalPrefixWarning = "<4>";
inline constexpr std::string_view kJournalPrefixInfo = "<6>";
inline constexpr std::string_view kJournalPrefixDebug = "<7>";

// True when standard error is connected to the journal: $JOURNAL_STREAM
// ("<device>:<inode>", set by systemd for StandardError=journal) names the
// file standard error is. (A child that inherited the variable but whose
// stderr was redirected elsewhere does not match.) Pure environment and
// fstat; no libsystemd needed.
bool stderr_is_journal();

class ServiceManager final {
 public:
  // Reads the environment once: NOTIFY_SOCKET, WATCHDOG_USEC / WATCHDOG_PID,
  // LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES (these are unset afterwards, so
  // nothing the daemon starts inherits them).
  static ServiceManager from_environment();

  // The build has libsystemd (otherwise every call here is a no-op).
  static bool compiled_in() noexcept;
  // NOTIFY_SOCKET is set: a service manager listens for notifications.
  bool notifying() const noexcept { return notifying_; }

  // READY=1: listeners bound, device probed.
  void ready();
  // STATUS=<line>; sent only when it differs from the last one sent.
  void status(std::string_view line);
  // STOPPING=1: the shutdown began.
  void stopping();
  // STATUS=cannot start: <why>. (systemd learns the failure from the exit status.)
  void failed(std::string_view why);

  // WATCHDOG_USEC, when the watchdog is enabled for this process (WATCHDOG_PID
  // absent or ours). Ping at half this interval.
  std::optional<std::chrono::microseconds> watchdog_interval() const noexcept { return watchdog_; }
  // WATCHDOG=1.
  void watchdog_ping();

  // Socket activation: the sockets passed to this process, each checked
  // strictly (a stream socket, AF_INET or AF_INET6, listening, on
  // expectation.port, loopback when required); the first that is not is an
  // error naming its descriptor, what it is and what was expected. Empty when
  // the process was not socket-activated: the daemon binds its own
  // listeners. The sockets belong to the caller (one call per process).
  Result<std::vector<ListenSocket>> listen_fds(const ListenExpectation& expectation);

  ServiceManager(ServiceManager&&) noexcept = default;
  ServiceManager& operator=(ServiceManager&&) noexcept = default;
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;
  ~ServiceManager() = default;

 private:
  ServiceManager() = default;
  void notify(const std::string& message);

  bool notifying_ = false;
  std::optional<std::chrono::microseconds> watchdog_;
  int listen_count_ = 0;  // sd_listen_fds' answer (< 0: its error)
  std::vector<std::string> listen_names_;
  bool listen_requested_uncompiled_ = false;  // LISTEN_FDS set in a build without libsystemd
  bool listen_taken_ = false;
  std::string last_status_;
};

}  // namespace rped::service
