// PED-initiated (peer-to-peer) mode, the daemon's part: for sites that cannot
// accept inbound connections, pedserver dials out to a pedclient that listens
// for PED-initiated connections (default port 9697).
//
//   `-mode connect -name N`     the daemon dials the registered appliance N
//   `-mode disconnect -name N`  it ends that connection
//
// The connection is TLS 1.3 only, group P-521, signatures ECDSA with SHA-512,
// mutually authenticated with both certificates pinned: pedserver presents
// its own (-regen) and accepts the appliance only if it presents exactly the
// certificate registered for it (byte for byte; no CA). A failed attempt is
// retried up to kMaxDialAttempts times with exponential back-off (a pinning
// mismatch is not retried: it will not get better). Inside, the secure channel
// runs unchanged, the HSM side speaking first, as one Session like an inbound
// one (one PED, one session at a time). Because TLS has already authenticated
// the peer, the pre-authentication deadline of such a session is -idletimeout
// rather than -socketreadtimeout: the HSM may open the channel whenever it
// needs the PED. When the session ends the connection is not redialled.
//
// Thread-safety: on the daemon's io_context thread only.
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "appliances.h"
#include "rped/channel/endpoint.h"
#include "rped/result.h"
#include "session.h"

namespace rped::pedserver {

struct PeerLinkServices final {
  std::shared_ptr<spdlog::logger> log;
  std::filesystem::path state_dir;
  SessionSettings session;
  std::function<bool()> ped_busy;  // a session holds the PED
  std::function<std::uint64_t()> next_session_id;
  std::function<Result<channel::Endpoint>()>
      make_endpoint;  // PED-side endpoint with the trust anchors
  std::function<SessionServices()> session_services;
  std::function<void(std::shared_ptr<SessionHandle>)>
      adopt;  // makes it the active session and starts it
};

class PeerLinks final {
 public:
  PeerLinks(boost::asio::io_context& io, PeerLinkServices services);
  ~PeerLinks();
  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;

  // Completes when connected (the message says where and after how many
  // attempts) or when it gave up (the error says why).
  boost::asio::awaitable<Result<std::string>> connect(std::string name);
  boost::asio::awaitable<Result<std::string>> disconnect(std::string name);
  void session_finished(std::uint64_t session_id);
  void stop();
  nlohmann::json status_document() const;  // null when no appliance link exists

  struct Link;

 private:
  boost::asio::awaitable<Result<std::string>> dial(std::shared_ptr<Link> link);

  boost::asio::io_context& io_;
  PeerLinkServices services_;
  std::shared_ptr<Link> link_;
  bool stopped_ = false;
};

}  // namespace rped::pedserver
