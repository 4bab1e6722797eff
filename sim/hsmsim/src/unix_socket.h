// Small POSIX helpers for hsmsim's two Unix-domain stream sockets.
//
// Thread-safety: functions on descriptors the caller owns.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>

#include "rped/bytes.h"
#include "rped/result.h"

namespace rped::hsmsim {

// Binds and listens; a stale socket file from an earlier run is replaced, any
// other file at the path is an error. The socket file gets mode 0600.
Result<int> listen_unix(const std::filesystem::path& path);
Result<int> connect_unix(const std::filesystem::path& path);

// SO_SNDTIMEO / SO_RCVTIMEO (0: none).
Result<void> set_timeouts(int fd, std::chrono::milliseconds send,
                          std::chrono::milliseconds receive);

// Writes everything (MSG_NOSIGNAL); an error or timeout is an error.
Result<void> write_all(int fd, ByteView bytes);
// Reads exactly out.size() bytes. Errc::invalid_argument with "end of stream"
// when the peer closed before the first byte; otherwise an error.
Result<void> read_exact(int fd, std::span<std::uint8_t> out);

// A self-pipe to wake a poll() loop from another thread.
struct WakePipe {
  int read_fd = -1;
  int write_fd = -1;
  static Result<WakePipe> create();
  void wake() const noexcept;
  void drain() const noexcept;
  void close() noexcept;
};

}  // namespace rped::hsmsim
