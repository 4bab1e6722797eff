// Asio helpers both daemons use for their listeners and short exchanges.
//
// Thread-safety: as Asio's objects they wrap (one strand or one thread).
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <spdlog/logger.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
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

// This host's name, for status documents ("unknown" when it has none).
std::string host_name();

// co_spawn whose uncaught exception is logged ("<what>: internal error: ...")
// instead of ending the process; `on_failure` runs after the log line.
template <class Executor, class Awaitable>
void spawn_logged(Executor&& executor, Awaitable coroutine, std::shared_ptr<spdlog::logger> log,
                  std::string what, std::function<void()> on_failure = {}) {
  boost::asio::co_spawn(std::forward<Executor>(executor), std::move(coroutine),
                        [log = std::move(log), what = std::move(what),
                         on_failure = std::move(on_failure)](std::exception_ptr failure) {
                          if (!failure) {
                            return;
                          }
                          try {
                            std::rethrow_exception(failure);
                          } catch (const std::exception& e) {
                            log->error("{}: internal error: {}", what, e.what());
                          }
                          if (on_failure) {
                            on_failure();
                          }
                        });
}

// Resolves host:port and connects `socket` (already bound to its executor),
// giving up at `deadline`. Nobody listening fails at once; the error names
// the address: "cannot connect to the PED server at 10.0.0.5:1503: Connection
// refused". `what` is "the PED server".
template <class Socket>
boost::asio::awaitable<Result<void>> dial(Socket& socket, const std::string& host,
                                          std::uint16_t port, std::string_view what,
                                          std::chrono::steady_clock::time_point deadline);

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
