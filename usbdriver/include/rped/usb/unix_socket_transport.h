// UnixSocketTransport: the same device-protocol frames over a Unix-domain
// stream socket, to the PED emulator (sim/pedsim) instead of a USB PED.
//
// Deadlines are enforced with poll(2). The emulator closing its end is
// LinkFailure::unplugged, like a USB PED going away.
//
// Thread-safety: as PedTransport. close() shuts the socket down, which wakes a
// thread blocked in poll(); the descriptor itself is closed by the destructor.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "rped/usb/transport.h"

namespace rped::usb {

namespace detail {
class FrameAssembler;
}

class UnixSocketTransport final : public PedTransport {
 public:
  // Connects to the emulator's listening socket. not_found when nothing listens there.
  static Result<std::unique_ptr<UnixSocketTransport>> connect(const std::filesystem::path& path);
  // Takes ownership of a connected stream socket (one end of a socketpair, an accepted connection).
  static Result<std::unique_ptr<UnixSocketTransport>> adopt(int fd, std::string description);
  ~UnixSocketTransport() override;

  [[nodiscard]] Result<void> send(ByteView frame, std::chrono::milliseconds timeout) override;
  [[nodiscard]] Result<Bytes> receive(std::chrono::milliseconds timeout) override;
  void close() override;
  std::string description() const override { return description_; }

 private:
  UnixSocketTransport(int fd, std::string description);
  Result<void> usable() const;

  const int fd_;
  const std::string description_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> peer_gone_{false};
  std::atomic<bool> broken_{false};
  std::mutex send_mutex_;
  std::mutex receive_mutex_;
  std::unique_ptr<detail::FrameAssembler> assembler_;  // receive_mutex_
};

}  // namespace rped::usb
