// The administration interface of both daemons: `pedserver -mode stop|show|
// connect|disconnect` and `pedclient -mode stop|show|assignid|...` talk to the
// running daemon over TCP on -admin (loopback unless -eadmin 1), one JSON
// object per line each way.
//
//   -> {"command":"hello"}
//   <- {"ok":true,"server":"pedserver","version":"0.1.0","pid":123,"owner_uid":1000,
//       "admin_port":1502,"token_file":"/home/c/.local/state/pedserver/admin-1502.token"}
//   -> {"command":"show","token":"<64 hex>"}            (the daemon's own commands)
//   <- {"ok":true,...} or {"ok":false,"error":"..."}
//
// Authentication: at start the daemon writes a fresh random token to a 0600
// file in its (0700) state directory and names that file in `hello`. Only a
// user who can read the file -- the user who started the daemon, or root --
// can send the token; every other request is refused. Tokens are compared in
// constant time. The token file also names the admin port it belongs to, and
// the client checks it, so a program that grabbed another port cannot collect
// the token of the server the user meant.
//
// This header is the client side too (blocking, with deadlines: it runs in the
// short-lived command process, never in the daemon); the daemon side is
// admin_server.h.
//
// Thread-safety: pure functions and file access; one AdminConnection per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include "rped/result.h"

namespace rped::service {

inline constexpr std::size_t kMaxAdminLineBytes = 64 * 1024;
inline constexpr std::size_t kAdminTokenBytes = 32;  // 256 bits, 64 hex digits
inline constexpr std::chrono::milliseconds kAdminIoTimeout{10'000};

// Commands both daemons answer; each daemon adds its own.
namespace admin_command {
inline constexpr std::string_view hello = "hello";
inline constexpr std::string_view show = "show";
inline constexpr std::string_view stop = "stop";
}  // namespace admin_command

struct TokenFile final {
  std::uint16_t admin_port = 0;
  pid_t pid = 0;
  std::string token;
};

// <state dir>/admin-<port>.token: one file per admin port, so several servers
// (one per PED) can share a state directory.
std::filesystem::path token_file_path(const std::filesystem::path& state_dir,
                                      std::uint16_t admin_port);

// 64 lower-case hex digits from the OpenSSL DRBG.
Result<std::string> new_admin_token();

// Written atomically with mode 0600.
Result<void> write_token_file(const std::filesystem::path& file, const TokenFile& contents);

// Errc::invalid_argument with "permission denied" when the file exists but
// may not be read by this user; other errors name the file.
Result<TokenFile> read_token_file(const std::filesystem::path& file);

bool token_matches(std::string_view expected, std::string_view given) noexcept;

class AdminConnection final {
 public:
  // 127.0.0.1:port. Errors are one line for the user ("pedserver is not running: ...");
  // `program` names the daemon expected there.
  static Result<AdminConnection> open(std::string_view program, std::uint16_t port,
                                      std::chrono::milliseconds timeout);
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
  AdminConnection(int fd, std::string_view program, std::uint16_t port)
      : fd_(fd), program_(program), port_(port) {}
  int fd_ = -1;
  std::string program_;
  std::uint16_t port_ = 0;
  std::string pending_;  // bytes after the last answer line
};

struct AdminSession final {
  AdminConnection connection;
  nlohmann::json hello;  // the server's hello answer
  pid_t server_pid = 0;
  std::string token;
};

// Connects, says hello (the answer must name `program`), and reads the token
// the hello names. `action` words the refusal: "permission denied: only the
// user who started pedserver (uid N) or root may <action>".
Result<AdminSession> open_admin_session(std::string_view program, std::uint16_t port,
                                        std::string_view action);

// Sends an authenticated command; an answer with ok=false becomes an Error
// carrying the server's message.
Result<nlohmann::json> admin_command_call(AdminSession& session, std::string_view command,
                                          nlohmann::json arguments,
                                          std::chrono::milliseconds timeout);

// The daemon process is gone (or a zombie). For -mode stop.
bool process_gone(pid_t pid);

// `-mode stop`: asks the daemon on `admin_port` to stop, prints Luna's lines
// ("Stopping Ped Server (pid N)...", "Ped Server stopped.") and waits until the
// process is gone, at most `limit`; the error names `limit_option` then.
struct StopRequest final {
  std::string program;       // "pedserver"
  std::string display_name;  // "Ped Server"
  std::string version;
  std::uint16_t admin_port = 0;
  std::chrono::seconds limit{25};
  std::string limit_option;  // "-bgprocessshutdowntimeout"
};
Result<void> stop_daemon(const StopRequest& request);

}  // namespace rped::service
