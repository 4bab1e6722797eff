// The administration interface between `pedserver -mode stop|show|connect|
// disconnect` and the running daemon: TCP on -admin (loopback unless
// -eadmin 1), one JSON object per line each way.
//
//   -> {"command":"hello"}
//   <- {"ok":true,"server":"pedserver","version":"0.1.0","pid":123,"owner_uid":1000,
//       "admin_port":1502,"token_file":"/home/c/.local/state/pedserver/admin-1502.token"}
//   -> {"command":"show","token":"<64 hex>"}            (also stop, connect, disconnect)
//   <- {"ok":true,...} or {"ok":false,"error":"..."}
//
// Authentication: at start the daemon writes a fresh random token to a 0600
// file in its (0700) state directory and names that file in `hello`. Only a
// user who can read the file -- the user who started the server, or root --
// can send the token; every other request is refused. Tokens are compared in
// constant time. The token file also names the admin port it belongs to, and
// the client checks it, so a program that grabbed another port cannot collect
// the token of the server the user meant.
//
// Thread-safety: pure functions and file access.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "rped/result.h"

namespace rped::pedserver {

inline constexpr std::size_t kMaxAdminLineBytes = 64 * 1024;
inline constexpr std::size_t kAdminTokenBytes = 32;  // 256 bits, 64 hex digits
inline constexpr std::chrono::milliseconds kAdminIoTimeout{10'000};

namespace admin_command {
inline constexpr std::string_view hello = "hello";
inline constexpr std::string_view show = "show";
inline constexpr std::string_view stop = "stop";
inline constexpr std::string_view connect = "connect";
inline constexpr std::string_view disconnect = "disconnect";
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

}  // namespace rped::pedserver
