#include "peer_listener.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <system_error>

#include "pedservers.h"
#include "rped/service/net.h"
#include "rped/service/peer_tls.h"

namespace rped::pedclient {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

constexpr std::chrono::milliseconds kAcceptRetryPause{200};

// Counts a running handshake for as long as it runs (and the listener lives).
struct PendingHandshake final {
  PendingHandshake(std::shared_ptr<bool> alive, unsigned& count)
      : alive_(std::move(alive)), count_(count) {
    ++count_;
  }
  ~PendingHandshake() {
    if (*alive_) {
      --count_;
    }
  }
  PendingHandshake(const PendingHandshake&) = delete;
  PendingHandshake& operator=(const PendingHandshake&) = delete;

 private:
  std::shared_ptr<bool> alive_;
  unsigned& count_;
};

}  // namespace

PeerListener::PeerListener(asio::io_context& io, PeerListenerConfig config,
                           std::shared_ptr<spdlog::logger> log, Busy busy, Offer offer)
    : io_(io),
      config_(std::move(config)),
      log_(std::move(log)),
      busy_(std::move(busy)),
      offer_(std::move(offer)) {}

PeerListener::~PeerListener() { *alive_ = false; }

Result<bool> PeerListener::open() {
  const std::filesystem::path certificate = peer_certificate_path(config_.state_dir);
  const std::filesystem::path key = peer_key_path(config_.state_dir);
  std::error_code missing;
  if (!std::filesystem::exists(certificate, missing) || !std::filesystem::exists(key, missing)) {
    log_->info(
        "no listener for PED-initiated connections: this client has no certificate ({}); "
        "'pedclient -mode regen -commonname NAME' makes one",
        certificate.string());
    return false;
  }
  tls_ = std::make_shared<ssl::context>(ssl::context::tls_server);
  if (auto configured = service::configure_peer_tls(tls_->native_handle(), certificate, key);
      !configured.ok()) {
    tls_.reset();
    return make_error(Errc::invalid_argument,
                      "PED-initiated listener: " + configured.error().message +
                          " (make a new one with 'pedclient -mode regen -force')");
  }
  // No session tickets: every connection is a full handshake with both certificates.
  SSL_CTX_set_num_tickets(tls_->native_handle(), 0);
  const tcp::endpoint endpoint = config_.external
                                     ? tcp::endpoint(tcp::v6(), config_.port)
                                     : tcp::endpoint(asio::ip::address_v4::loopback(), config_.port);
  RPED_TRY_ASSIGN(tcp::acceptor acceptor,
                  service::listen_tcp(io_, endpoint, "PED-initiated connections", "-peerport",
                                      "pedclient"));
  boost::system::error_code error;
  listening_ = service::endpoint_text(acceptor.local_endpoint(error));
  acceptor_.emplace(std::move(acceptor));
  return true;
}

void PeerListener::start() {
  if (acceptor_) {
    service::spawn_logged(io_, accept_loop(), log_, "PED-initiated listener");
  }
}

void PeerListener::stop() {
  stopped_ = true;
  if (acceptor_) {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
  }
}

std::string PeerListener::listening() const { return listening_; }

nlohmann::json PeerListener::status_document() const {
  if (listening_.empty()) {
    return nullptr;
  }
  return {{"listening", listening_},
          {"accepted", accepted_},
          {"refused", refused_},
          {"last_refusal", last_refusal_}};
}

awaitable<void> PeerListener::accept_loop() {
  const std::shared_ptr<bool> alive = alive_;
  while (*alive && !stopped_) {
    boost::system::error_code error;
    service::TcpSocket socket = co_await acceptor_->async_accept(
        asio::make_strand(io_), asio::redirect_error(use_awaitable, error));
    if (!*alive || stopped_) {
      co_return;
    }
    if (error) {
      if (error == asio::error::operation_aborted) {
        co_return;
      }
      log_->warn("accepting a PED-initiated connection failed: {}", error.message());
      asio::steady_timer pause(io_, kAcceptRetryPause);  // e.g. out of descriptors
      co_await pause.async_wait(asio::redirect_error(use_awaitable, error));
      continue;
    }
    const std::string address = service::endpoint_text(socket.remote_endpoint(error));
    // One link per HSM: refused before any TLS work while one is open.
    std::optional<std::string> busy = busy_();
    if (!busy && pending_ >= kMaxPendingHandshakes) {
      busy = std::to_string(kMaxPendingHandshakes) + " TLS handshakes are running already";
    }
    if (busy) {
      ++refused_;
      last_refusal_ = address + ": " + *busy;
      log_->warn("refused a PED-initiated connection from {}: {}", address, *busy);
      socket.close(error);
      continue;
    }
    service::spawn_logged(io_, handshake(std::move(socket)), log_,
                          "PED-initiated connection from " + address);
  }
}

awaitable<void> PeerListener::handshake(service::TcpSocket socket) {
  const std::shared_ptr<bool> alive = alive_;
  const PendingHandshake counted(alive, pending_);
  boost::system::error_code error;
  const tcp::endpoint remote = socket.remote_endpoint(error);
  const std::string address = service::endpoint_text(remote);
  const auto refuse = [&](const std::string& why) {
    if (!*alive) {
      return;
    }
    ++refused_;
    last_refusal_ = address + ": " + why;
    log_->warn("refused a PED-initiated connection from {}: {}", address, why);
  };
  // The pins are re-read for every connection: -pedserver register/delete need no restart.
  auto loaded = load_pinned_pedservers(config_.state_dir);
  if (!loaded.ok() || loaded->empty()) {
    refuse(loaded.ok() ? std::string("no PED server is registered (pedclient -pedserver register)")
                       : loaded.error().message);
    socket.close(error);
    co_return;
  }
  auto pins = std::make_shared<std::vector<PinnedPedserver>>(std::move(loaded).value());
  auto matched = std::make_shared<std::optional<std::size_t>>();
  auto stream = std::make_shared<service::TlsStream>(std::move(socket), *tls_);
  stream->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  stream->set_verify_callback([pins, matched](bool, ssl::verify_context& verify) {
    X509_STORE_CTX* const store = verify.native_handle();
    if (X509_STORE_CTX_get_error_depth(store) != 0) {
      return true;  // only the PED server's own certificate matters: pinned, not chained
    }
    const Bytes der = service::certificate_der(X509_STORE_CTX_get_current_cert(store));
    const auto found = std::find_if(pins->begin(), pins->end(),
                                    [&der](const PinnedPedserver& p) { return p.der == der; });
    if (found == pins->end()) {
      matched->reset();
      return false;
    }
    *matched = static_cast<std::size_t>(found - pins->begin());
    return true;
  });
  // Pre-authentication deadline: a peer that connects and stalls is cut.
  asio::steady_timer deadline(io_);
  auto expired = std::make_shared<bool>(false);
  deadline.expires_after(config_.handshake_timeout);
  deadline.async_wait([stream, expired](const boost::system::error_code& waited) {
    if (!waited) {
      *expired = true;
      boost::system::error_code ignored;
      stream->next_layer().close(ignored);
    }
  });
  co_await stream->async_handshake(ssl::stream_base::server,
                                   asio::redirect_error(use_awaitable, error));
  deadline.cancel();
  if (!*alive) {
    co_return;
  }
  if (error) {
    refuse(*expired ? "the TLS handshake did not complete within -socketreadtimeout"
           : !*matched
               ? "its certificate is not pinned (register it with 'pedclient -pedserver register')"
               : "TLS handshake failed: " + error.message());
    stream->next_layer().close(error);
    co_return;
  }
  // Belt and braces: the verify callback pinned it; check again now that the handshake is over.
  X509* const presented = SSL_get1_peer_certificate(stream->native_handle());
  const Bytes presented_der = service::certificate_der(presented);
  X509_free(presented);
  if (!*matched || presented_der != (*pins)[**matched].der ||
      SSL_version(stream->native_handle()) != TLS1_3_VERSION) {
    refuse("the PED server's certificate does not match the pinned one");
    stream->next_layer().close(error);
    co_return;
  }
  const PinnedPedserver& pin = (*pins)[**matched];
  AcceptedPedserver peer{pin.name, remote.address().to_string(), remote.port(), address,
                         pin.fingerprint};
  if (remote.address().is_v6() && remote.address().to_v6().is_v4_mapped()) {
    peer.host = asio::ip::make_address_v4(asio::ip::v4_mapped, remote.address().to_v6()).to_string();
  }
  log_->info("PED-initiated connection from PED server '{}' at {} (TLS 1.3, pinned certificate {})",
             pin.name, address, pin.fingerprint.substr(0, 16));
  if (const std::optional<std::string> refusal = offer_(stream, peer)) {
    refuse(*refusal);
    stream->next_layer().close(error);
    co_return;
  }
  ++accepted_;
}

}  // namespace rped::pedclient
