// Asio helpers both daemons use for their listeners and short exchanges.
//
// Thread-safety: as Asio's objects they wrap (one strand or one thread).
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <string>
#include <string_view>

#include "rped/result.h"

namespace rped::service {

// Binds and listens on `endpoint` (SO_REUSEADDR; the IPv6 wildcard is
// dual-stack, and falls back to the IPv4 wildcard on a host without IPv6).
// The error names what the listener was for, the address, and the option that
// chooses it: "cannot listen for HSM connections on 127.0.0.1:1503: Address
// already in use (is another pedserver running? choose another -port)".
Result<boost::asio::ip::tcp::acceptor> listen_tcp(boost::asio::io_context& io,
                                                  boost::asio::ip::tcp::endpoint endpoint,
                                                  std::string_view what, std::string_view option,
                                                  std::string_view program);

// Closes a socket if it is still open when the deadline passes.
template <class Socket>
class SocketDeadline final {
 public:
  SocketDeadline(Socket& socket, std::chrono::milliseconds after) : timer_(socket.get_executor()) {
    timer_.expires_after(after);
    timer_.async_wait([&socket](const boost::system::error_code& error) {
      if (!error) {
        boost::system::error_code ignored;
        socket.close(ignored);
      }
    });
  }
  ~SocketDeadline() { timer_.cancel(); }
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;

 private:
  boost::asio::steady_timer timer_;
};

// Decrements a counter when a coroutine is done with what it counted.
class CountedScope final {
 public:
  explicit CountedScope(unsigned& counter) : counter_(counter) { ++counter_; }
  ~CountedScope() { --counter_; }
  CountedScope(const CountedScope&) = delete;
  CountedScope& operator=(const CountedScope&) = delete;

 private:
  unsigned& counter_;
};

}  // namespace rped::service
