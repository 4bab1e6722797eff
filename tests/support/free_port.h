// A TCP port for a daemon under test to listen on.
//
// Not bind(0): such a port comes from the kernel's ephemeral range
// (ip_local_port_range, 32768-60999 by default), where any outgoing connection
// on the machine -- tests run in parallel and open many -- may take it between
// our check and the daemon's bind ("Address already in use", seen in CI).
// These ports lie below that range, so only another listener can take one:
// each test process starts in its own slice (by pid), walks on, and keeps a
// port only if it can bind it now.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>

namespace rped::test {

inline std::uint16_t free_port() {
  constexpr unsigned kFirst = 20000;
  constexpr unsigned kCount = 32768 - kFirst;  // up to the ephemeral range
  constexpr unsigned kSlice = 64;
  static std::atomic<unsigned> taken{0};
  const unsigned start = (static_cast<unsigned>(::getpid()) % (kCount / kSlice)) * kSlice;
  for (unsigned attempt = 0; attempt < kCount; ++attempt) {
    const auto port = static_cast<std::uint16_t>(kFirst + (start + taken++) % kCount);
    const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) {
      break;
    }
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_any;
    address.sin6_port = htons(port);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    if (free) {
      return port;
    }
  }
  throw std::runtime_error("no free TCP port in 20000-32767");
}

}  // namespace rped::test
