#include "rped/service/net.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <unistd.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "rped/service/channel_connection.h"

namespace rped::service {

namespace asio = boost::asio;
using asio::ip::tcp;

Result<tcp::acceptor> listen_tcp(asio::io_context& io, tcp::endpoint endpoint,
                                 std::string_view what, std::string_view option,
                                 std::string_view program) {
  tcp::acceptor acceptor(io);
  boost::system::error_code error;
  acceptor.open(endpoint.protocol(), error);
  if (error && endpoint.address().is_v6() && endpoint.address().is_unspecified()) {
    // No IPv6 on this host: all IPv4 interfaces instead.
    endpoint = tcp::endpoint(asio::ip::address_v4::any(), endpoint.port());
    acceptor.open(endpoint.protocol(), error);
  }
  if (!error) {
    acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  }
  if (!error && endpoint.address().is_v6() && endpoint.address().is_unspecified()) {
    acceptor.set_option(asio::ip::v6_only(false), error);
  }
  if (!error) {
    acceptor.bind(endpoint, error);
  }
  if (!error) {
    acceptor.listen(asio::socket_base::max_listen_connections, error);
  }
  if (error) {
    std::string hint;
    if (error == asio::error::address_in_use) {
      hint = " (is another " + std::string(program) + " running? choose another " +
             std::string(option) + ")";
    } else if (error == asio::error::access_denied) {
      hint = " (ports below 1024 need root; choose another " + std::string(option) + ")";
    } else if (error == boost::system::errc::address_not_available) {
      hint = " (no interface of this host has that address; check -ip)";
    }
    return make_error(Errc::invalid_argument, "cannot listen for " + std::string(what) + " on " +
                                                  endpoint_text(endpoint) + ": " + error.message() +
                                                  hint);
  }
  return acceptor;
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) {
    return "unknown";
  }
  return name;
}

template <class Socket>
asio::awaitable<Result<void>> dial(Socket& socket, const std::string& host, std::uint16_t port,
                                   std::string_view what,
                                   std::chrono::steady_clock::time_point deadline) {
  const std::string where = host + ":" + std::to_string(port);
  boost::system::error_code error;
  tcp::resolver resolver(socket.get_executor());
  const auto results = co_await resolver.async_resolve(
      host, std::to_string(port), asio::redirect_error(asio::use_awaitable, error));
  if (error || results.empty()) {
    co_return make_error(Errc::invalid_argument, "cannot resolve the address of " +
                                                     std::string(what) + " " + where + ": " +
                                                     error.message());
  }
  // Nobody listening fails at once (connection refused); an address that does
  // not answer fails at the deadline, not at the kernel's minutes later.
  asio::steady_timer limit(socket.get_executor());
  limit.expires_at(deadline);
  limit.async_wait([&socket](const boost::system::error_code& waited) {
    if (!waited) {
      boost::system::error_code ignored;
      socket.close(ignored);
    }
  });
  co_await asio::async_connect(socket, results, asio::redirect_error(asio::use_awaitable, error));
  limit.cancel();
  if (error || !socket.is_open()) {
    const std::string reason = error == asio::error::operation_aborted || !socket.is_open()
                                   ? std::string("no answer (timed out)")
                                   : error.message();
    co_return make_error(Errc::unplugged,
                         "cannot connect to " + std::string(what) + " at " + where + ": " + reason);
  }
  co_return Result<void>{};
}

template asio::awaitable<Result<void>> dial<TcpSocket>(TcpSocket&, const std::string&,
                                                       std::uint16_t, std::string_view,
                                                       std::chrono::steady_clock::time_point);

}  // namespace rped::service
