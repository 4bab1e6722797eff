// The listener for PED-initiated connections (docs/pedclient.md §9): for
// custodian sites that cannot accept inbound connections, `pedserver -mode
// connect` dials out to this port (default 9697) instead of waiting for the
// HSM side to dial in.
//
//   TCP accept    refused at once (closed) while a Remote PED connection is
//                 open or being opened -- one link per HSM -- or while
//                 kMaxPendingHandshakes TLS handshakes are already running
//   TLS 1.3       P-521 key exchange, ECDSA-SHA512; this client presents its
//                 certificate (-mode regen) and demands the PED server's,
//                 accepted only when it is byte for byte one of the pinned
//                 ones (-pedserver register), re-read for each connection;
//                 the whole handshake within -socketreadtimeout
//   handed over   the authenticated stream goes to the daemon (`offer`),
//                 which runs the HSM side of the secure channel over it,
//                 exactly as over a connection it dialled itself
//
// The listener only exists once this client has a certificate; without one
// open() reports that and nothing listens.
//
// Thread-safety: on the daemon's io_context thread only.
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "rped/result.h"
#include "rped/service/channel_connection.h"

namespace spdlog {
class logger;
}

namespace rped::pedclient {

inline constexpr unsigned kMaxPendingHandshakes = 4;

struct PeerListenerConfig final {
  std::uint16_t port = 9697;
  bool external = true;  // -epeer
  std::filesystem::path state_dir;
  std::chrono::milliseconds handshake_timeout{10'000};  // -socketreadtimeout
};

struct AcceptedPedserver final {
  std::string name;     // as pinned (-pedserver register -name)
  std::string host;     // the peer's address, as text
  std::uint16_t port = 0;
  std::string address;  // "192.0.2.7:50122"
  std::string fingerprint;
};

class PeerListener final {
 public:
  // Why a connection must be refused now (a link is open ...), or nullopt.
  using Busy = std::function<std::optional<std::string>()>;
  // Takes the authenticated stream; returns why it refused it, or nullopt.
  using Offer = std::function<std::optional<std::string>(std::shared_ptr<service::TlsStream>,
                                                         const AcceptedPedserver&)>;

  PeerListener(boost::asio::io_context& io, PeerListenerConfig config,
               std::shared_ptr<spdlog::logger> log, Busy busy, Offer offer);
  ~PeerListener();
  PeerListener(const PeerListener&) = delete;
  PeerListener& operator=(const PeerListener&) = delete;

  // Binds the port when this client has a certificate: true when listening,
  // false when there is no certificate (logged); an error when the
  // certificate is unusable or the port cannot be bound.
  Result<bool> open();
  void start();
  void stop();

  std::string listening() const;  // "0.0.0.0:9697", empty when not listening
  nlohmann::json status_document() const;

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> handshake(service::TcpSocket socket);

  boost::asio::io_context& io_;
  PeerListenerConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  Busy busy_;
  Offer offer_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  std::string listening_;
  unsigned pending_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t refused_ = 0;
  std::string last_refusal_;
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace rped::pedclient
