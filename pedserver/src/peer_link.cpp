#include "peer_link.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

#include "appliances.h"
#include "rped/service/peer_tls.h"

namespace rped::pedserver {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

}  // namespace

struct PeerLinks::Link {
  enum class State : std::uint8_t { connecting, connected, disconnected, ended, failed };

  explicit Link(asio::io_context& io) : backoff(io) {}

  Appliance appliance;
  std::string address;  // "host:port"
  Bytes pinned_der;
  std::shared_ptr<ssl::context> tls;  // outlives the stream: asio keeps the verify callback in it
  State state = State::connecting;
  unsigned attempt = 0;
  std::string last_error;
  bool pin_mismatch = false;
  bool cancelled = false;
  std::optional<std::uint64_t> session_id;
  std::weak_ptr<SessionHandle> session;
  TcpSocket* dialing = nullptr;
  asio::steady_timer backoff;
};

namespace {

std::string_view state_name(PeerLinks::Link::State state) {
  switch (state) {
    case PeerLinks::Link::State::connecting:
      return "connecting";
    case PeerLinks::Link::State::connected:
      return "connected";
    case PeerLinks::Link::State::disconnected:
      return "disconnected";
    case PeerLinks::Link::State::ended:
      return "session ended";
    case PeerLinks::Link::State::failed:
      return "failed";
    default:
      return "unknown";
  }
}

// TLS 1.3 only, P-521 key exchange, ECDSA-SHA512 signatures, our certificate
// and key, and the appliance accepted only with exactly its pinned certificate.
Result<std::shared_ptr<ssl::context>> tls_context(const std::filesystem::path& state_dir,
                                                  const std::shared_ptr<PeerLinks::Link>& link) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  const std::filesystem::path certificate = host_certificate_path(state_dir);
  const std::filesystem::path key = host_key_path(state_dir);
  std::error_code missing;
  if (!std::filesystem::exists(certificate, missing) || !std::filesystem::exists(key, missing)) {
    return make_error(Errc::invalid_argument,
                      "this host has no certificate for PED-initiated mode (" +
                          certificate.string() +
                          "): run 'pedserver -regen -commonname <name>' and give the certificate "
                          "to the appliance");
  }
  RPED_TRY(service::configure_peer_tls(context->native_handle(), certificate, key));
  context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  std::weak_ptr<PeerLinks::Link> weak = link;
  context->set_verify_callback([weak](bool, ssl::verify_context& verify) {
    X509_STORE_CTX* const store = verify.native_handle();
    if (X509_STORE_CTX_get_error_depth(store) != 0) {
      return true;  // only the appliance's own certificate matters: it is pinned, not chained
    }
    const auto held = weak.lock();
    if (!held) {
      return false;
    }
    const bool match =
        service::certificate_der(X509_STORE_CTX_get_current_cert(store)) == held->pinned_der;
    if (!match) {
      held->pin_mismatch = true;
    }
    return match;
  });
  return context;
}

}  // namespace

PeerLinks::PeerLinks(asio::io_context& io, PeerLinkServices services)
    : io_(io), services_(std::move(services)) {}

PeerLinks::~PeerLinks() = default;

awaitable<Result<std::string>> PeerLinks::connect(std::string name) {
  if (stopped_) {
    co_return make_error(Errc::invalid_argument, "pedserver is stopping");
  }
  if (link_ &&
      (link_->state == Link::State::connecting || link_->state == Link::State::connected)) {
    co_return make_error(Errc::invalid_argument,
                         "already " + std::string(state_name(link_->state)) + " to appliance '" +
                             link_->appliance.name + "'; run 'pedserver -mode disconnect -name " +
                             link_->appliance.name + "' first");
  }
  if (services_.ped_busy()) {
    co_return make_error(Errc::invalid_argument,
                         "the PED is serving another session; connect when it has ended");
  }
  auto appliances = load_appliances(services_.state_dir);
  if (!appliances.ok()) {
    co_return std::move(appliances).error();
  }
  auto found = find_appliance(appliances.value(), name);
  if (!found.ok()) {
    co_return std::move(found).error();
  }
  auto pinned =
      service::load_single_p521_certificate(appliance_certificate_path(services_.state_dir, name));
  if (!pinned.ok()) {
    co_return std::move(pinned).error();
  }
  auto link = std::make_shared<Link>(io_);
  link->appliance = *found.value();
  link->address = link->appliance.host.find(':') != std::string::npos
                      ? "[" + link->appliance.host + "]:" + std::to_string(link->appliance.port)
                      : link->appliance.host + ":" + std::to_string(link->appliance.port);
  link->pinned_der = pinned->der();
  auto tls = tls_context(services_.state_dir, link);
  if (!tls.ok()) {
    co_return std::move(tls).error();
  }
  link->tls = std::move(tls).value();
  link_ = link;

  std::chrono::milliseconds backoff = kFirstDialBackoff;
  for (unsigned attempt = 1; attempt <= kMaxDialAttempts; ++attempt) {
    if (link->cancelled || stopped_) {
      co_return make_error(Errc::invalid_argument,
                           "connecting to appliance '" + name + "' was cancelled");
    }
    if (services_.ped_busy()) {
      link->state = Link::State::failed;
      link->last_error = "the PED is serving another session";
      co_return make_error(
          Errc::invalid_argument,
          "the PED is now serving another session; connect again when it has ended");
    }
    link->attempt = attempt;
    Result<std::string> dialled = co_await dial(link);
    if (dialled.ok()) {
      co_return dialled;
    }
    link->last_error = dialled.error().message;
    services_.log->warn("appliance {} at {}: attempt {} of {} failed: {}", name, link->address,
                        attempt, kMaxDialAttempts, link->last_error);
    if (link->pin_mismatch || link->cancelled || stopped_) {
      link->state = link->cancelled ? Link::State::disconnected : Link::State::failed;
      co_return make_error(Errc::invalid_argument, "appliance '" + name + "' at " + link->address +
                                                       ": " + link->last_error);
    }
    if (attempt == kMaxDialAttempts) {
      break;
    }
    link->backoff.expires_after(backoff);
    boost::system::error_code error;
    co_await link->backoff.async_wait(asio::redirect_error(use_awaitable, error));
    backoff = std::min(backoff * 2, kMaxDialBackoff);
  }
  link->state = Link::State::failed;
  co_return make_error(Errc::invalid_argument, "could not connect to appliance '" + name + "' at " +
                                                   link->address + " after " +
                                                   std::to_string(kMaxDialAttempts) +
                                                   " attempts: " + link->last_error);
}

awaitable<Result<std::string>> PeerLinks::dial(std::shared_ptr<Link> link) {
  boost::system::error_code error;
  tcp::resolver resolver(io_);
  const auto endpoints =
      co_await resolver.async_resolve(link->appliance.host, std::to_string(link->appliance.port),
                                      asio::redirect_error(use_awaitable, error));
  if (error) {
    co_return make_error(Errc::invalid_argument,
                         "cannot resolve " + link->appliance.host + ": " + error.message());
  }
  TcpSocket socket(asio::make_strand(io_));
  TcpSocket* current = &socket;
  asio::steady_timer deadline(io_);
  bool expired = false;
  deadline.expires_after(services_.session.socket_read + services_.session.socket_write);
  deadline.async_wait([&current, &expired](const boost::system::error_code& timer_error) {
    if (!timer_error) {
      expired = true;
      boost::system::error_code ignored;
      current->close(ignored);
    }
  });
  link->dialing = &socket;
  co_await asio::async_connect(socket, endpoints, asio::redirect_error(use_awaitable, error));
  link->dialing = nullptr;
  if (error) {
    deadline.cancel();
    co_return make_error(Errc::invalid_argument,
                         expired ? std::string("connection timed out") : error.message());
  }
  socket.set_option(tcp::no_delay(true), error);
  TlsStream stream(std::move(socket), *link->tls);
  current = &stream.next_layer();
  link->dialing = current;
  co_await stream.async_handshake(ssl::stream_base::client,
                                  asio::redirect_error(use_awaitable, error));
  link->dialing = nullptr;
  deadline.cancel();
  if (error) {
    if (link->pin_mismatch) {
      co_return make_error(
          Errc::invalid_argument,
          "the appliance presented a certificate other than the one registered for it (pinning "
          "mismatch); re-register it if it was legitimately replaced");
    }
    co_return make_error(Errc::invalid_argument, expired
                                                     ? std::string("TLS handshake timed out")
                                                     : "TLS handshake failed: " + error.message());
  }
  // Belt and braces: the verify callback pinned it; check again now that the handshake is over.
  X509* const presented = SSL_get1_peer_certificate(stream.native_handle());
  const bool pinned =
      presented != nullptr && service::certificate_der(presented) == link->pinned_der;
  X509_free(presented);
  if (!pinned || SSL_version(stream.native_handle()) != TLS1_3_VERSION) {
    link->pin_mismatch = true;
    co_return make_error(Errc::invalid_argument,
                         "the appliance's certificate does not match the pinned one");
  }
  auto endpoint = services_.make_endpoint();
  if (!endpoint.ok()) {
    co_return std::move(endpoint).error();
  }
  if (services_.ped_busy()) {
    co_return make_error(Errc::invalid_argument, "the PED became busy while connecting");
  }
  SessionSettings settings = services_.session;
  settings.handshake_deadline =
      settings.idle;  // the TLS peer is authenticated: the HSM speaks when it needs the PED
  const std::uint64_t id = services_.next_session_id();
  auto session = make_session(
      std::move(stream), std::move(endpoint).value(),
      SessionIdentity{id, link->address,
                      "appliance " + link->appliance.name + " (PED-initiated, TLS 1.3)"},
      settings, services_.session_services());
  link->session_id = id;
  link->session = session;
  link->state = Link::State::connected;
  services_.log->info(
      "appliance {} at {}: connected (TLS 1.3, pinned certificate) on attempt {}; session {}",
      link->appliance.name, link->address, link->attempt, id);
  services_.adopt(std::move(session));
  co_return "connected to appliance '" + link->appliance.name + "' at " + link->address +
      " (attempt " + std::to_string(link->attempt) + " of " + std::to_string(kMaxDialAttempts) +
      ")";
}

awaitable<Result<std::string>> PeerLinks::disconnect(std::string name) {
  const std::shared_ptr<Link> link = link_;
  if (!link || link->appliance.name != name ||
      (link->state != Link::State::connecting && link->state != Link::State::connected)) {
    co_return make_error(Errc::invalid_argument, "not connected to appliance '" + name + "'");
  }
  link->cancelled = true;
  link->backoff.cancel();
  if (link->dialing != nullptr) {
    boost::system::error_code ignored;
    link->dialing->close(ignored);
  }
  if (auto session = link->session.lock()) {
    session->shutdown(channel::AlertCode::close_notify,
                      "the custodian disconnected from the appliance");
  }
  link->state = Link::State::disconnected;
  services_.log->info("appliance {}: disconnected on request", name);
  co_return "disconnected from appliance '" + name + "'";
}

void PeerLinks::session_finished(std::uint64_t session_id) {
  if (link_ && link_->session_id == session_id && link_->state == Link::State::connected) {
    link_->state = Link::State::ended;
    services_.log->info(
        "appliance {}: the session ended; the connection is closed (run -mode connect again to "
        "reconnect)",
        link_->appliance.name);
  }
}

void PeerLinks::stop() {
  stopped_ = true;
  if (link_) {
    link_->cancelled = true;
    link_->backoff.cancel();
    if (link_->dialing != nullptr) {
      boost::system::error_code ignored;
      link_->dialing->close(ignored);
    }
  }
}

nlohmann::json PeerLinks::status_document() const {
  if (!link_) {
    return nullptr;
  }
  std::string state(state_name(link_->state));
  if (link_->state == Link::State::connecting) {
    state += " (attempt " + std::to_string(link_->attempt) + " of " +
             std::to_string(kMaxDialAttempts) + ")";
  }
  return {{"name", link_->appliance.name},
          {"address", link_->address},
          {"state", state},
          {"attempt", link_->attempt},
          {"last_error", link_->last_error}};
}

}  // namespace rped::pedserver
