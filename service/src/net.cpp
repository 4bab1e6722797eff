#include "rped/service/net.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <boost/asio/ip/v6_only.hpp>

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

}  // namespace rped::service
