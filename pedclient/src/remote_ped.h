// One Remote PED connection, HSM side: pedclient dials a pedserver, runs the
// HSM side of the secure channel (protocol/'s channel::Endpoint) over a
// service::ChannelConnection, asks the HSM (through HsmBackend) for every
// operation on its own keys, and carries the HSM's PED requests over it.
//
//   dial       resolve and TCP connect, bounded by the connect deadline; a
//              refusal fails at once with the address in the message
//   handshake  HsmHello from the HSM's identity; the key derivation and the
//              check of tag_U happen inside the HSM (derive_session_keys, on
//              the worker: it blocks); the whole handshake, the custodian at
//              the PED included, is bounded by the connect deadline
//   serving    each ped_request: device form -> channel form (CSPs wrapped
//              under the channel's CWK, docs/protocol.md §10) -> one record;
//              the answer is matched by the PED request id and converted back
//
// The connect result is reported once (connected()), and, for a connection
// that came up, its end once (ended()), with the Alert that ended it.
//
// Thread-safety: everything runs on the daemon's io_context thread (the
// connection's strand is on it); blocking backend calls run on `worker` and
// post their result back.
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "rped/hsm/backend_protocol.h"
#include "rped/pedclient/hsm_backend.h"
#include "rped/service/channel_connection.h"

namespace spdlog {
class logger;
}

namespace rped::pedclient {

// Over the PED's own timeout_ms: time for its "timeout" answer to arrive.
inline constexpr std::chrono::milliseconds kPedAnswerMargin{10'000};

struct LinkTarget final {
  std::string host;
  std::uint16_t port = 1503;
  channel::Scheme scheme = channel::Scheme::full_unified;
  std::chrono::milliseconds timeout{200'000};  // dial + handshake, custodian included
  std::string origin;                          // "ped connect from the HSM", "assignid 3"
};

struct LinkUp final {
  std::uint64_t rpk_serial = 0;
  std::string pedserver;  // "host:port"
  std::string peer_subject;
};

struct LinkServices final {
  boost::asio::io_context& io;
  boost::asio::thread_pool& worker;
  std::shared_ptr<HsmBackend> backend;
  std::shared_ptr<spdlog::logger> log;
  service::ChannelTimeouts timeouts;  // handshake is replaced by the target's timeout
  std::uint64_t id = 0;
};

struct LinkHooks final {
  std::function<void(const std::optional<hsm::Failure>& failure, const LinkUp& up)> connected;
  std::function<void(const service::ChannelEnd& end)> ended;  // only after connected(nullopt)
  std::function<void()> finished;                             // always, last
};

class RemotePed final : public service::ChannelDelegate,
                        public std::enable_shared_from_this<RemotePed> {
 public:
  RemotePed(LinkTarget target, LinkServices services, LinkHooks hooks);

  // Dials with the HSM's identity (fetched by the caller on the worker).
  void start(HsmIdentity identity);
  // PED-initiated: runs the channel over a TLS connection a pinned pedserver
  // opened to this client (PeerListener), Full Unified only, as if dialled.
  void start_accepted(HsmIdentity identity, std::shared_ptr<service::TlsStream> stream);
  // Gives up before dialling (the identity could not be read).
  void abort(hsm::Failure why) { fail_connect(std::move(why)); }

  // The HSM's PED operation; answered through the backend.
  void ped_request(std::uint32_t backend_request_id, hsm::PedRequest request);
  // Graceful close (close_notify); `reason` is logged.
  void close(std::string reason);
  void force_close(std::string reason);

  const LinkTarget& target() const noexcept { return target_; }
  bool established() const noexcept { return up_.has_value() && !ending_; }
  const std::optional<LinkUp>& up() const noexcept { return up_; }
  std::chrono::steady_clock::time_point started_at() const noexcept { return started_at_; }
  std::optional<std::chrono::steady_clock::time_point> last_activity() const;
  std::uint64_t operations() const noexcept { return operations_; }
  std::string state_text() const;

  // service::ChannelDelegate
  void on_key_request(service::ChannelConnection& connection,
                      channel::KeyRequestEvent event) override;
  void on_established(service::ChannelConnection& connection,
                      const channel::EstablishedEvent& event) override;
  void on_data(service::ChannelConnection& connection, Bytes payload) override;
  void on_closing(service::ChannelConnection& connection, const service::ChannelEnd& end) override;
  void on_finished(service::ChannelConnection& connection, const service::ChannelEnd& end) override;

 private:
  struct Pending;
  boost::asio::awaitable<void> dial(HsmIdentity identity);
  Result<channel::Endpoint> hsm_endpoint(HsmIdentity& identity);
  service::ChannelTimeouts handshake_timeouts() const;
  void fail_connect(hsm::Failure failure);
  void answer_pending(std::uint32_t ped_request_id, const Result<hsm::PedResponse>& answer,
                      const hsm::Failure* failure);
  void fail_all_pending(const hsm::Failure& failure);

  const LinkTarget target_;
  LinkServices services_;
  LinkHooks hooks_;
  service::Strand strand_;
  std::shared_ptr<service::ChannelConnection> connection_;
  std::optional<LinkUp> up_;
  bool connect_reported_ = false;
  bool ending_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point started_at_{};
  std::uint64_t operations_ = 0;
  std::map<std::uint32_t, std::shared_ptr<Pending>> pending_;  // by PED request id
};

}  // namespace rped::pedclient
