// One HSM connection: the PED side of the secure channel (protocol/'s
// channel::Endpoint) over a TCP connection (or, in PED-initiated mode, a TLS
// connection pedserver dialled), with the PED's part relayed to the PED.
//
// The transport, its three loops (reader, writer, watchdog) and every deadline
// -- the handshake's network phases (the pre-authentication deadline),
// -socketreadtimeout, -socketwritetimeout, -idletimeout, -pinginterval /
// -pingtimeout -- are service::ChannelConnection's (shared with pedclient).
// The session is its ChannelDelegate: it runs one coroutine per PED operation
// (key derivation, the orange key's RPK, each relayed command), which awaits
// the PED's answer (posted back to the connection's strand) and hands it to
// the connection. Nothing blocks the io_context.
//
// Every way a session ends goes through the endpoint (Alert before
// establishment, sealed close after), which wipes its keys; then the PED is
// told the remote session is over, and any PED operation still running is
// cancelled, so the next connection starts clean.
//
// Thread-safety: the daemon runs the io_context on one thread; sessions and
// the daemon touch shared state (PedConnection, StatusBoard) only from it.
// The SessionHandle members post to the connection's strand.
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rped/channel/endpoint.h"
#include "rped/ped/device_protocol.h"
#include "rped/service/channel_connection.h"
#include "status.h"

namespace spdlog {
class logger;
}

namespace rped::pedserver {

class PedConnection;

using service::TcpSocket;
using service::TlsStream;
inline constexpr std::chrono::milliseconds kQuickPedOperationTimeout{30'000};
inline constexpr std::chrono::milliseconds kPedAnswerMargin{
    15'000};  // over the PED's own timeout_ms

struct SessionSettings final {
  std::chrono::milliseconds socket_read{10'000};
  std::chrono::milliseconds socket_write{10'000};
  std::chrono::milliseconds idle{1'800'000};
  std::chrono::milliseconds ping_interval{30'000};
  std::chrono::milliseconds ping_timeout{10'000};
  // Pre-authentication: the HSM's HsmHello must arrive within this long of
  // the connection, and its HsmConfirm within this long of our PedKeyShare.
  std::chrono::milliseconds handshake_deadline{10'000};
  // What the custodian is given for a key operation during the handshake.
  std::chrono::milliseconds key_operation_timeout{ped::kDefaultKeyOperationTimeoutMs};
};

struct SessionIdentity final {
  std::uint64_t id = 0;
  std::string peer;  // "192.0.2.7:50122", "[2001:db8::7]:50122"
  std::string via;   // "inbound", "appliance NAME (PED-initiated)"
};

struct SessionServices final {
  PedConnection& ped;
  StatusBoard& status;
  std::shared_ptr<spdlog::logger> log;
  std::function<void(std::uint64_t session_id)> on_finished;
  // The manufacturer roots and pins, for the HSM's PKC (docs/attestation.md §6).
  std::filesystem::path trust_directory;
};

class SessionHandle {
 public:
  virtual ~SessionHandle() = default;
  virtual std::uint64_t id() const noexcept = 0;
  virtual void start() = 0;
  // Graceful: the endpoint sends `code` (sealed when established), the queue drains, the connection
  // closes.
  virtual void shutdown(channel::AlertCode code, std::string reason) = 0;
  // Cuts the connection now (after a graceful shutdown took too long).
  virtual void force_close(std::string reason) = 0;
  virtual ClientStatus describe() const = 0;
};

std::shared_ptr<SessionHandle> make_session(TcpSocket socket, channel::Endpoint endpoint,
                                            SessionIdentity identity, SessionSettings settings,
                                            SessionServices services);
std::shared_ptr<SessionHandle> make_session(TlsStream stream, channel::Endpoint endpoint,
                                            SessionIdentity identity, SessionSettings settings,
                                            SessionServices services);

using service::endpoint_text;

}  // namespace rped::pedserver
