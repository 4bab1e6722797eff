// The client side of the administration interface (admin_protocol.h), used by
// `pedserver -mode stop|show|connect|disconnect`. Blocking, with deadlines:
// it runs in the short-lived command process, never in the daemon.
//
// Thread-safety: one AdminConnection per thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "rped/result.h"

namespace rped::pedserver {

class AdminConnection final {
 public:
  // 127.0.0.1:port. Errors are one line for the user ("pedserver is not running: ...").
  static Result<AdminConnection> open(std::uint16_t port, std::chrono::milliseconds timeout);
  AdminConnection(AdminConnection&& other) noexcept;
  AdminConnection& operator=(AdminConnection&&) = delete;
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;
  ~AdminConnection();

  // One request line, one answer line.
  Result<nlohmann::json> exchange(const nlohmann::json& request, std::chrono::milliseconds timeout);
  // True when the server closed the connection (it does so when it exits) within `timeout`.
  bool wait_for_close(std::chrono::milliseconds timeout);

 private:
  AdminConnection(int fd, std::uint16_t port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string pending_;  // bytes after the last answer line
};

struct AdminSession final {
  AdminConnection connection;
  nlohmann::json hello;  // the server's hello answer
  pid_t server_pid = 0;
  std::string token;
};

// Connects, says hello, and reads the token the hello names. `action` words
// the refusal: "permission denied: only the user who started pedserver (uid N)
// or root may <action>".
Result<AdminSession> open_admin_session(std::uint16_t port, std::string_view action);

// Sends an authenticated command; an answer with ok=false becomes an Error
// carrying the server's message.
Result<nlohmann::json> admin_command_call(AdminSession& session, std::string_view command,
                                          nlohmann::json arguments,
                                          std::chrono::milliseconds timeout);

// The daemon process is gone (or a zombie). For -mode stop.
bool process_gone(pid_t pid);

}  // namespace rped::pedserver
