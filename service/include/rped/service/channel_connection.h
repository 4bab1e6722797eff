// One secure-channel connection over a byte stream, for either daemon:
// protocol/'s channel::Endpoint (the PED side in pedserver, the HSM side in
// pedclient) over a TCP connection or a TLS connection (PED-initiated mode).
// What is specific to a daemon -- where the key derivation happens, what a
// data record means -- is its ChannelDelegate's; everything about the
// transport and its deadlines is here, once.
//
// The model is Boost.Beast's "advanced server flex awaitable": the connection
// lives on its own strand and runs three coroutines there --
//   reader    async_read_some -> Endpoint::receive -> events to the delegate
//   writer    a bounded queue drained with async_write (reading pauses above
//             kWriteQueueHighWater, so a peer that sends but never reads
//             cannot grow it)
//   watchdog  every deadline in one place: the handshake's network phases
//             (ChannelTimeouts::handshake), a frame stalled half-way
//             (-socketreadtimeout), a write that makes no progress
//             (-socketwritetimeout), no operation for -idletimeout, and the
//             keep-alive ping (-pinginterval / -pingtimeout).
// Nothing blocks the io_context.
//
// Every way a connection ends goes through the endpoint (Alert before
// establishment, sealed close after), which wipes its keys; the delegate
// learns it once in on_closing() and once more, when the transport is closed
// and every coroutine is done, in on_finished().
//
// Thread-safety: the delegate's callbacks run on the connection's strand. The
// public methods may be called from any thread: they post to the strand.
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "rped/bytes.h"
#include "rped/channel/endpoint.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace spdlog {
class logger;
}

namespace rped::service {

using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
using TcpSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Strand>;
using TlsStream = boost::asio::ssl::stream<TcpSocket>;

inline constexpr std::size_t kWriteQueueHighWater = 256 * 1024;  // stop reading above this

struct ChannelTimeouts final {
  std::chrono::milliseconds socket_read{10'000};
  std::chrono::milliseconds socket_write{10'000};
  std::chrono::milliseconds idle{1'800'000};
  bool idle_enabled = true;  // pedclient -ignoreidletimeout
  std::chrono::milliseconds ping_interval{30'000};
  std::chrono::milliseconds ping_timeout{10'000};
  // Each phase in which the endpoint waits for the peer's handshake message
  // (ped_await_hello, ped_await_confirm, hsm_await_key_share) must end within
  // this long of its start: the pre-authentication deadline on the PED side;
  // on the HSM side it also covers the custodian at the PED.
  std::chrono::milliseconds handshake{10'000};
};

struct ChannelLabel final {
  std::uint64_t id = 0;   // the daemon's connection number, in every log line
  std::string peer;       // "192.0.2.7:50122", "[2001:db8::7]:50122"
  std::string peer_name;  // "the HSM side", "the PED side": words for log lines and errors
};

// How a connection ended.
struct ChannelEnd final {
  std::string reason;  // for logs and the operator; never secret
  channel::AlertCode code = channel::AlertCode::close_notify;  // the Alert that ended it
  bool by_peer = false;                                        // the peer sent that Alert
  bool transport_lost = false;  // no Alert: the connection broke or was cut
  std::chrono::steady_clock::duration duration{};
  bool keys_wiped = true;
};

class ChannelConnection;

// The daemon's part. Callbacks run on the connection's strand, one at a time,
// and must not block: long work is posted elsewhere and its result handed
// back through the ChannelConnection methods.
class ChannelDelegate {
 public:
  virtual ~ChannelDelegate() = default;
  // The device must derive the session keys: answer with complete_key_request().
  virtual void on_key_request(ChannelConnection& connection, channel::KeyRequestEvent event) = 0;
  // PED side, C(2e,2s): read the RPK from the orange key; answer with
  // complete_rpk_request(). The default refuses.
  virtual void on_rpk_request(ChannelConnection& connection, std::uint64_t hsm_serial);
  virtual void on_established(ChannelConnection& connection,
                              const channel::EstablishedEvent& event) = 0;
  // PED side: the HSM's chain is verified; check its PKC and have the
  // custodian confirm it before any key is read, then answer with
  // complete_identity() (docs/attestation.md §6). The default refuses.
  virtual void on_identity(ChannelConnection& connection, channel::IdentityEvent event);
  virtual void on_data(ChannelConnection& connection, Bytes payload) = 0;
  // The connection began to end (Alert sent or received, or transport lost).
  virtual void on_closing(ChannelConnection& connection, const ChannelEnd& end) = 0;
  // The transport is closed and every coroutine is done; called once, last.
  virtual void on_finished(ChannelConnection& connection, const ChannelEnd& end) = 0;
  // How log lines and the Alert's detail name the handshake deadline
  // (ChannelTimeouts::handshake): pedserver calls it the pre-authentication
  // deadline (docs/pedserver.md).
  virtual std::string handshake_deadline_name() const { return "handshake deadline"; }
};

class ChannelConnection {
 public:
  virtual ~ChannelConnection() = default;

  const ChannelLabel& label() const noexcept { return label_; }
  virtual Strand strand() const = 0;

  // Starts the loops; on the HSM side sends HsmHello (Endpoint::start()).
  virtual void start() = 0;

  // Strand-only (from a delegate callback, or code posted to strand()):
  virtual void complete_key_request(Result<SecretBytes> dkm) = 0;
  virtual void complete_rpk_request(Result<channel::RpkInfo> rpk) = 0;
  virtual void complete_identity(Result<void> confirmed) = 0;
  // One application record; errors when not established or closing.
  virtual Result<void> send(ByteView payload) = 0;
  // An operation the peer waits for started / finished: the idle clock does
  // not run while one is in flight, and restarts when it finishes.
  virtual void operation_started() = 0;
  virtual void operation_finished() = 0;
  virtual const channel::Endpoint& endpoint() const = 0;
  virtual bool closing() const = 0;
  virtual std::chrono::steady_clock::time_point connected_at() const = 0;
  virtual std::chrono::steady_clock::time_point last_activity() const = 0;
  // Like shutdown(), but at once rather than posted: for a delegate that has
  // just seen a protocol violation and must not act on anything the peer sent
  // after it. The default posts (shutdown()).
  virtual void close(channel::AlertCode code, std::string reason) {
    shutdown(code, std::move(reason));
  }

  // Any thread:
  // Graceful: the endpoint sends `code` (sealed when established), the queue
  // drains, the connection closes.
  virtual void shutdown(channel::AlertCode code, std::string reason) = 0;
  // Cuts the connection now (after a graceful shutdown took too long).
  virtual void force_close(std::string reason) = 0;

 protected:
  explicit ChannelConnection(ChannelLabel label) : label_(std::move(label)) {}

 private:
  ChannelLabel label_;
};

// The delegate must outlive the connection's on_finished() call; the
// connection keeps itself alive until then.
std::shared_ptr<ChannelConnection> make_channel_connection(
    TcpSocket socket, channel::Endpoint endpoint, ChannelLabel label, ChannelTimeouts timeouts,
    std::shared_ptr<spdlog::logger> log, std::shared_ptr<ChannelDelegate> delegate);
std::shared_ptr<ChannelConnection> make_channel_connection(
    TlsStream stream, channel::Endpoint endpoint, ChannelLabel label, ChannelTimeouts timeouts,
    std::shared_ptr<spdlog::logger> log, std::shared_ptr<ChannelDelegate> delegate);

// "192.0.2.7:50122" or "[2001:db8::7]:50122" (IPv4-mapped addresses as IPv4).
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

// "10 s" or "1.5 s", for deadline messages.
std::string seconds_text(std::chrono::milliseconds duration);

}  // namespace rped::service
