#include "daemon.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <exception>
#include <list>
#include <memory>
#include <vector>

#include "admin_protocol.h"
#include "ped_connection.h"
#include "peer_link.h"
#include "rped/channel/messages.h"
#include "rped/config/paths.h"
#include "rped/selftest.h"
#include "status.h"
#include "trust_anchors.h"
#include "version.h"

namespace rped::pedserver {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = SteadyClock;

constexpr std::chrono::milliseconds kRefusalLinger{
    2000};  // read until the refused client closes, at most
constexpr std::chrono::milliseconds kPedGoodbyeGrace{
    2000};  // for set_remote_session(false) at shutdown
constexpr std::chrono::milliseconds kAcceptRetryPause{100};
// Bounds on what unauthenticated peers can make the daemon hold.
constexpr unsigned kMaxLingeringRefusals =
    32;  // beyond this, a refused connection is closed without an Alert
constexpr unsigned kMaxAdminConnections = 16;

std::string hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) {
    return "unknown";
  }
  return name;
}

// Closes a socket if it is still open when the deadline passes.
class SocketDeadline final {
 public:
  SocketDeadline(TcpSocket& socket, std::chrono::milliseconds after)
      : timer_(socket.get_executor()) {
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
  asio::steady_timer timer_;
};

// Decrements a counter when a coroutine is done with what it counted.
class CountedScope final {
 public:
  explicit CountedScope(unsigned& counter) : counter_(counter) {}
  ~CountedScope() { --counter_; }
  CountedScope(const CountedScope&) = delete;
  CountedScope& operator=(const CountedScope&) = delete;

 private:
  unsigned& counter_;
};

class Daemon final {
 public:
  Daemon(const DaemonConfig& config, std::shared_ptr<spdlog::logger> log, TrustAnchors anchors)
      : config_(config),
        log_(std::move(log)),
        trust_directory_(config.state_dir / kTrustDirectoryName),
        trust_anchor_count_(anchors.roots.size()),
        ped_(io_, config.ped, config.ped_write_delay, log_),
        signals_(io_),
        force_timer_(io_),
        peers_(io_, PeerLinkServices{
                        log_, config.state_dir, config.session, [this] { return session_active(); },
                        [this] { return next_session_id(); }, [this] { return make_endpoint(); },
                        [this] { return session_services(); },
                        [this](std::shared_ptr<SessionHandle> session) {
                          adopt_peer_session(std::move(session));
                        }}) {}

  int run(ReadinessReporter& readiness) {
    if (auto bound = bind_listeners(); !bound.ok()) {
      return fail_start(readiness, bound.error().message);
    }
    token_file_ = token_file_path(config_.state_dir, config_.admin_port);
    auto token = new_admin_token();
    if (!token.ok()) {
      return fail_start(readiness, "cannot make the admin token: " + token.error().message);
    }
    token_ = std::move(token).value();
    if (auto written =
            write_token_file(token_file_, TokenFile{config_.admin_port, ::getpid(), token_});
        !written.ok()) {
      return fail_start(readiness, written.error().message);
    }

    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](const boost::system::error_code& error, int number) {
      if (!error) {
        begin_shutdown(std::string("signal ") + strsigabbrev_or(number));
      }
    });
    for (tcp::acceptor& acceptor : server_acceptors_) {
      spawn(accept_hsm_connections(acceptor));
    }
    for (tcp::acceptor& acceptor : admin_acceptors_) {
      spawn(accept_admin_connections(acceptor));
    }
    ped_.start([this, &readiness] {
      if (ped_.connected()) {
        log_->info("pedserver {} ready: serving {} on {} (admin port {}, pid {})", kSoftwareVersion,
                   ped_.device_description(), listen_text(), config_.admin_port, ::getpid());
        readiness.ready();
      } else {
        log_->warn("pedserver {} ready, but the PED is not there: {}; looking for it every second",
                   kSoftwareVersion, ped_.last_error());
        readiness.ready_without_ped(ped_.last_error());
      }
    });
    io_.run();
    log_->info("pedserver stopped");
    return kExitOk;
  }

 private:
  template <typename Awaitable>
  void spawn(Awaitable coroutine) {
    asio::co_spawn(io_, std::move(coroutine), [log = log_](std::exception_ptr failure) {
      if (!failure) {
        return;
      }
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        log->error("internal error: {}", e.what());
      }
    });
  }

  static const char* strsigabbrev_or(int number) {
    return number == SIGTERM ? "SIGTERM" : "SIGINT";
  }

  int fail_start(ReadinessReporter& readiness, const std::string& why) {
    log_->error("cannot start: {}", why);  // also on standard error when the log goes there
    readiness.failed(why);
    if (!config_.log.to_stderr) {
      std::fprintf(stderr, "pedserver: %s\n", why.c_str());
    }
    return kExitFailure;
  }

  // --- listeners ----------------------------------------------------------

  Result<std::vector<tcp::endpoint>> server_endpoints() {
    std::vector<tcp::endpoint> endpoints;
    if (config_.ip) {
      boost::system::error_code error;
      const asio::ip::address address = asio::ip::make_address(*config_.ip, error);
      if (!error) {
        endpoints.emplace_back(address, config_.port);
      } else {
        tcp::resolver resolver(io_);
        const auto results = resolver.resolve(*config_.ip, std::to_string(config_.port), error);
        if (error || results.empty()) {
          return make_error(
              Errc::invalid_argument,
              "-ip " + *config_.ip + ": cannot resolve the host name: " + error.message());
        }
        endpoints.push_back(results.begin()->endpoint());
      }
      if (!config_.external_server && !endpoints.front().address().is_loopback()) {
        return make_error(Errc::invalid_argument,
                          "-ip " + *config_.ip +
                              " is not a loopback address, but -eserverport 0 allows the "
                              "loopback interface only");
      }
      return endpoints;
    }
    if (config_.external_server) {
      endpoints.emplace_back(asio::ip::address_v6::any(), config_.port);  // dual-stack: IPv4 too
    } else {
      endpoints.emplace_back(asio::ip::address_v4::loopback(), config_.port);
    }
    return endpoints;
  }

  Result<void> listen_on(std::vector<tcp::acceptor>& acceptors, tcp::endpoint endpoint,
                         std::string_view what, std::string_view option) {
    tcp::acceptor acceptor(io_);
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
        hint = " (is another pedserver running? choose another " + std::string(option) + ")";
      } else if (error == asio::error::access_denied) {
        hint = " (ports below 1024 need root; choose another " + std::string(option) + ")";
      } else if (error == boost::system::errc::address_not_available) {
        hint = " (no interface of this host has that address; check -ip)";
      }
      return make_error(Errc::invalid_argument, "cannot listen for " + std::string(what) + " on " +
                                                    endpoint_text(endpoint) + ": " +
                                                    error.message() + hint);
    }
    listening_.push_back(endpoint_text(acceptor.local_endpoint(error)) + " (" + std::string(what) +
                         ")");
    acceptors.push_back(std::move(acceptor));
    return {};
  }

  Result<void> bind_listeners() {
    RPED_TRY_ASSIGN(const std::vector<tcp::endpoint> endpoints, server_endpoints());
    for (const tcp::endpoint& endpoint : endpoints) {
      RPED_TRY(listen_on(server_acceptors_, endpoint, "HSM connections", "-port"));
    }
    const tcp::endpoint admin =
        config_.external_admin
            ? tcp::endpoint(asio::ip::address_v6::any(), config_.admin_port)
            : tcp::endpoint(asio::ip::address_v4::loopback(), config_.admin_port);
    RPED_TRY(listen_on(admin_acceptors_, admin, "administration", "-admin"));
    for (const std::string& where : listening_) {
      log_->info("listening on {}", where);
    }
    return {};
  }

  std::string listen_text() const {
    std::string text;
    for (const std::string& where : listening_) {
      text += (text.empty() ? "" : ", ") + where;
    }
    return text;
  }

  std::string ip_text() const {
    if (config_.ip) {
      return *config_.ip;
    }
    return config_.external_server ? "all interfaces" : "127.0.0.1";
  }

  // --- HSM connections ------------------------------------------------------

  awaitable<void> accept_hsm_connections(tcp::acceptor& acceptor) {
    for (;;) {
      boost::system::error_code error;
      TcpSocket socket = co_await acceptor.async_accept(asio::make_strand(io_),
                                                        asio::redirect_error(use_awaitable, error));
      if (stopping_) {
        co_return;
      }
      if (error) {
        if (error == asio::error::operation_aborted) {
          co_return;
        }
        log_->warn("accepting an HSM connection failed: {}", error.message());
        asio::steady_timer pause(io_, kAcceptRetryPause);  // e.g. out of descriptors
        co_await pause.async_wait(asio::redirect_error(use_awaitable, error));
        continue;
      }
      on_hsm_connection(std::move(socket));
    }
  }

  bool session_active() const { return active_ != nullptr; }
  std::uint64_t next_session_id() { return ++session_counter_; }

  Result<channel::Endpoint> make_endpoint() {
    RPED_TRY_ASSIGN(TrustAnchors anchors, load_trust_anchors(trust_directory_));
    trust_anchor_count_ = anchors.roots.size();
    channel::PedEndpointConfig endpoint_config;
    endpoint_config.manufacturer_roots = std::move(anchors.store);
    endpoint_config.request_rpk_from_device =
        true;  // the custodian inserts the orange key only when needed
    endpoint_config.allow_password_mode =
        true;  // remote RPV initialization: the PED asks for the password
    return channel::Endpoint::ped(std::move(endpoint_config));
  }

  void on_hsm_connection(TcpSocket socket) {
    boost::system::error_code error;
    const tcp::endpoint remote = socket.remote_endpoint(error);
    const std::string peer = error ? std::string("unknown peer") : endpoint_text(remote);
    socket.set_option(tcp::no_delay(true), error);
    if ((active_ || !ped_.connected()) && lingering_refusals_ >= kMaxLingeringRefusals) {
      ++(active_ ? status_.refused_busy : status_.refused_no_ped);
      log_->warn("refused {} without an Alert: {} refusals are still closing", peer,
                 lingering_refusals_);
      socket.close(error);
      return;
    }
    if (active_) {
      ++status_.refused_busy;
      const ClientStatus busy = active_->describe();
      log_->info("refused {}: the PED is serving session {} ({}): ped_busy", peer, busy.session_id,
                 busy.peer);
      spawn(refuse(std::move(socket), channel::AlertCode::ped_busy));
      return;
    }
    if (!ped_.connected()) {
      ++status_.refused_no_ped;
      log_->warn("refused {}: no PED is connected ({}): ped_unplugged", peer, ped_.last_error());
      spawn(refuse(std::move(socket), channel::AlertCode::ped_unplugged));
      return;
    }
    auto endpoint = make_endpoint();
    if (!endpoint.ok()) {
      log_->error("refused {}: {}", peer, endpoint.error().message);
      spawn(refuse(std::move(socket), channel::AlertCode::internal_error));
      return;
    }
    const std::uint64_t id = next_session_id();
    ++status_.sessions;
    active_ =
        make_session(std::move(socket), std::move(endpoint).value(),
                     SessionIdentity{id, peer, "inbound"}, config_.session, session_services());
    active_->start();
  }

  SessionServices session_services() {
    return SessionServices{ped_, status_, log_,
                           [this](std::uint64_t id) { on_session_finished(id); }};
  }

  void adopt_peer_session(std::shared_ptr<SessionHandle> session) {
    ++status_.sessions;
    active_ = std::move(session);
    active_->start();
  }

  void on_session_finished(std::uint64_t id) {
    if (active_ && active_->id() == id) {
      active_.reset();
    }
    peers_.session_finished(id);
    if (stopping_) {
      force_timer_.cancel();
      finish_shutdown();
    }
  }

  // The documented "one connection at a time": an Alert the HSM side can
  // show, then close. Reading until the client closes (briefly) keeps the
  // kernel from resetting the connection before the client has read the alert.
  awaitable<void> refuse(TcpSocket socket, channel::AlertCode code) {
    ++lingering_refusals_;
    const CountedScope counted(lingering_refusals_);
    const Bytes alert =
        channel::frame(channel::MessageType::alert, channel::Alert{code}.serialize());
    boost::system::error_code error;
    {
      const SocketDeadline deadline(socket, config_.session.socket_write);
      co_await asio::async_write(socket, asio::buffer(alert),
                                 asio::redirect_error(use_awaitable, error));
    }
    if (!error) {
      socket.shutdown(asio::socket_base::shutdown_send, error);
      const SocketDeadline deadline(socket, kRefusalLinger);
      std::array<std::uint8_t, 4096> discard{};
      for (;;) {
        co_await socket.async_read_some(asio::buffer(discard),
                                        asio::redirect_error(use_awaitable, error));
        if (error) {
          break;
        }
      }
    }
    socket.close(error);
  }

  // --- administration --------------------------------------------------------

  awaitable<void> accept_admin_connections(tcp::acceptor& acceptor) {
    for (;;) {
      boost::system::error_code error;
      TcpSocket socket = co_await acceptor.async_accept(asio::make_strand(io_),
                                                        asio::redirect_error(use_awaitable, error));
      if (error) {
        if (error == asio::error::operation_aborted || stopping_) {
          co_return;
        }
        asio::steady_timer pause(io_, kAcceptRetryPause);
        co_await pause.async_wait(asio::redirect_error(use_awaitable, error));
        continue;
      }
      if (admin_connections_ >= kMaxAdminConnections) {
        log_->warn("admin: refused a connection: {} are open already", admin_connections_);
        socket.close(error);
        continue;
      }
      spawn(serve_admin(std::move(socket)));
    }
  }

  awaitable<void> serve_admin(TcpSocket socket) {
    ++admin_connections_;
    const CountedScope counted(admin_connections_);
    boost::system::error_code error;
    const tcp::endpoint remote = socket.remote_endpoint(error);
    const std::string peer = error ? std::string("unknown peer") : endpoint_text(remote);
    asio::streambuf input(kMaxAdminLineBytes);
    for (;;) {
      std::size_t length = 0;
      {
        const SocketDeadline deadline(socket, kAdminIoTimeout);
        length = co_await asio::async_read_until(socket, input, '\n',
                                                 asio::redirect_error(use_awaitable, error));
      }
      if (error) {
        break;
      }
      std::string line(asio::buffers_begin(input.data()),
                       asio::buffers_begin(input.data()) + static_cast<std::ptrdiff_t>(length));
      input.consume(length);
      bool keep_until_exit = false;
      const nlohmann::json answer = co_await admin_request(line, peer, keep_until_exit);
      const std::string text = answer.dump() + "\n";
      {
        const SocketDeadline deadline(socket, kAdminIoTimeout);
        co_await asio::async_write(socket, asio::buffer(text),
                                   asio::redirect_error(use_awaitable, error));
      }
      if (error) {
        break;
      }
      if (keep_until_exit) {
        // `-mode stop` waits for this connection to close: it closes when the process exits.
        stop_waiters_.push_back(std::move(socket));
        co_return;
      }
    }
    socket.close(error);
  }

  static nlohmann::json refusal(const std::string& why) { return {{"ok", false}, {"error", why}}; }

  awaitable<nlohmann::json> admin_request(const std::string& line, const std::string& peer,
                                          bool& keep_until_exit) {
    const nlohmann::json request = nlohmann::json::parse(line, nullptr, false);
    if (!request.is_object() || !request.contains("command") || !request["command"].is_string()) {
      co_return refusal("malformed request: one JSON object with a \"command\" per line");
    }
    const std::string command = request["command"].get<std::string>();
    if (command == admin_command::hello) {
      co_return nlohmann::json{{"ok", true},
                               {"server", "pedserver"},
                               {"version", kSoftwareVersion},
                               {"pid", ::getpid()},
                               {"owner_uid", ::geteuid()},
                               {"admin_port", config_.admin_port},
                               {"token_file", token_file_.string()}};
    }
    const bool authenticated = request.contains("token") && request["token"].is_string() &&
                               token_matches(token_, request["token"].get<std::string>());
    if (!authenticated) {
      log_->warn("admin: refused '{}' from {}: wrong or missing admin token", command.substr(0, 32),
                 peer);
      co_return refusal(
          "permission denied: wrong or missing admin token; only the user who started pedserver "
          "(uid " +
          std::to_string(::geteuid()) + ") or root may do this");
    }
    if (command == admin_command::show) {
      co_return nlohmann::json{{"ok", true}, {"status", status_document()}};
    }
    if (command == admin_command::stop) {
      log_->info("admin: stop requested from {}", peer);
      keep_until_exit = true;
      begin_shutdown("admin stop request");
      co_return nlohmann::json{{"ok", true}, {"message", "stopping"}, {"pid", ::getpid()}};
    }
    if (command == admin_command::connect || command == admin_command::disconnect) {
      if (!request.contains("name") || !request["name"].is_string()) {
        co_return refusal(command + " needs \"name\"");
      }
      if (stopping_) {
        co_return refusal("pedserver is stopping");
      }
      const std::string name = request["name"].get<std::string>();
      log_->info("admin: {} {} requested from {}", command, name, peer);
      // (No co_await inside a conditional expression: GCC 12 miscompiles that.)
      std::optional<Result<std::string>> done;
      if (command == admin_command::connect) {
        done.emplace(co_await peers_.connect(name));
      } else {
        done.emplace(co_await peers_.disconnect(name));
      }
      if (!done->ok()) {
        co_return refusal(done->error().message);
      }
      co_return nlohmann::json{{"ok", true}, {"message", done->value()}};
    }
    co_return refusal("unknown command '" + command.substr(0, 32) + "'");
  }

  nlohmann::json status_document() const {
    const Clock::time_point now = Clock::now();
    const auto up = now - status_.started_at;
    nlohmann::json client = nullptr;
    std::int64_t current_connection = 0;
    std::int64_t current_idle = 0;
    if (active_) {
      const ClientStatus c = active_->describe();
      current_connection = whole_seconds(now - c.connected_at);
      current_idle = whole_seconds(now - c.last_activity);
      client = {
          {"session_id", c.session_id},
          {"peer", c.peer},
          {"via", c.via},
          {"state", c.state},
          {"hsm_serial", c.hsm_serial ? nlohmann::json(*c.hsm_serial) : nlohmann::json(nullptr)},
          {"scheme", c.scheme},
          {"connection_time_s", current_connection},
          {"idle_time_s", current_idle},
          {"operations", c.operations}};
    }
    const std::int64_t total_connection =
        whole_seconds(status_.finished_connection_time) + current_connection;
    nlohmann::json ped = {{"device", ped_.device_description()},
                          {"connected", ped_.connected()},
                          {"connection_status", ped_.connected() ? "Connected" : "Disconnected"},
                          {"last_error", ped_.connected() ? std::string() : ped_.last_error()},
                          {"rpk_count", status_.rpk_serials.size()},
                          {"rpk_serials", status_.rpk_serials}};
    if (const auto& identity = ped_.identity()) {
      ped["serial"] = identity->serial;
      ped["model"] = identity->model;
      ped["firmware_version"] = identity->firmware_version;
      ped["protocol_version"] = identity->protocol_version;
      ped["mode"] = ped::mode_name(identity->mode);
    }
    nlohmann::json listen = nlohmann::json::array();
    for (const std::string& where : listening_) {
      listen.push_back(where);
    }
    return {{"server",
             {{"hostname", hostname()},
              {"ip", ip_text()},
              {"listen", listen},
              {"pid", ::getpid()},
              {"owner_uid", ::geteuid()},
              {"software_version", kSoftwareVersion},
              {"server_port", config_.port},
              {"admin_port", config_.admin_port},
              {"external_server_interface", config_.external_server},
              {"external_admin_interface", config_.external_admin},
              {"up_time_s", whole_seconds(up)},
              {"idle_time_s", std::max<std::int64_t>(0, whole_seconds(up) - total_connection)},
              {"idle_timeout_s",
               std::chrono::duration_cast<std::chrono::seconds>(config_.session.idle).count()},
              {"log_file", config_.log.file.string()},
              {"state_dir", config_.state_dir.string()},
              {"trust_anchors", trust_anchor_count_}}},
            {"ped", ped},
            {"client", client},
            {"connections",
             {{"sessions", status_.sessions},
              {"refused_busy", status_.refused_busy},
              {"refused_no_ped", status_.refused_no_ped},
              {"current_connection_time_s", current_connection},
              {"current_connection_idle_time_s", current_idle},
              {"total_connection_time_s", total_connection}}},
            {"appliance", peers_.status_document()}};
  }

  // --- shutdown ---------------------------------------------------------------

  void begin_shutdown(const std::string& why) {
    if (stopping_) {
      return;
    }
    stopping_ = true;
    log_->info("stopping ({})", why);
    boost::system::error_code ignored;
    for (tcp::acceptor& acceptor : server_acceptors_) {
      acceptor.close(ignored);
    }
    for (tcp::acceptor& acceptor : admin_acceptors_) {
      acceptor.close(ignored);
    }
    signals_.cancel(ignored);
    peers_.stop();
    if (active_) {
      active_->shutdown(channel::AlertCode::close_notify, "pedserver is stopping");
      force_timer_.expires_after(config_.internal_shutdown);
      force_timer_.async_wait([this](const boost::system::error_code& error) {
        if (!error && active_) {
          log_->warn("the session did not close within {} s (-internalshutdowntimeout): cutting it",
                     config_.internal_shutdown.count());
          active_->force_close("cut at shutdown (-internalshutdowntimeout)");
        }
      });
      return;
    }
    finish_shutdown();
  }

  void finish_shutdown() {
    if (finishing_ || active_) {
      return;
    }
    finishing_ = true;
    // Let the PED's "remote session over" reach it, then close the link.
    ped_.after_pending_notifications(kPedGoodbyeGrace, [this] {
      ped_.stop();
      std::error_code ignored;
      std::filesystem::remove(token_file_, ignored);
      io_.stop();
    });
  }

  asio::io_context io_{1};
  const DaemonConfig& config_;
  std::shared_ptr<spdlog::logger> log_;
  const std::filesystem::path trust_directory_;
  std::size_t trust_anchor_count_ = 0;
  StatusBoard status_;
  PedConnection ped_;
  asio::signal_set signals_;
  asio::steady_timer force_timer_;
  std::vector<tcp::acceptor> server_acceptors_;
  std::vector<tcp::acceptor> admin_acceptors_;
  std::vector<std::string> listening_;
  std::list<TcpSocket> stop_waiters_;
  std::filesystem::path token_file_;
  std::string token_;
  std::shared_ptr<SessionHandle> active_;
  std::uint64_t session_counter_ = 0;
  unsigned lingering_refusals_ = 0;
  unsigned admin_connections_ = 0;
  bool stopping_ = false;
  bool finishing_ = false;
  PeerLinks peers_;
};

}  // namespace

int run_daemon(const DaemonConfig& config, ReadinessReporter readiness) {
  // 1. The log, before anything else, so every later failure is in it.
  ::umask(027);
  auto log = open_log(config.log);
  if (!log.ok()) {
    readiness.failed(log.error().message);
    std::fprintf(stderr, "pedserver: %s\n", log.error().message.c_str());
    return kExitFailure;
  }
  std::shared_ptr<spdlog::logger> logger = std::move(log).value();
  const auto fail = [&](const std::string& why) {
    logger->error("cannot start: {}", why);  // also on standard error when the log goes there
    readiness.failed(why);
    if (!config.log.to_stderr) {
      std::fprintf(stderr, "pedserver: %s\n", why.c_str());
    }
    return kExitFailure;
  };
  // 2. Power-on self-test: refuse to start when any primitive fails its known answer.
  if (auto tested = power_on_self_test(); !tested.ok()) {
    return fail("power-on self-test failed: " + tested.error().message);
  }
  logger->info("pedserver {} starting (pid {}, uid {}); power-on self-test passed",
               kSoftwareVersion, ::getpid(), ::geteuid());
  // 3. State directory and trust anchors.
  if (auto made = config::ensure_private_directory(config.state_dir); !made.ok()) {
    return fail(made.error().message);
  }
  auto anchors = load_trust_anchors(config.state_dir / kTrustDirectoryName);
  if (!anchors.ok()) {
    return fail(anchors.error().message);
  }
  logger->info("{} manufacturer root(s) trusted from {}", anchors->roots.size(),
               (config.state_dir / kTrustDirectoryName).string());
  try {
    Daemon daemon(config, logger, std::move(anchors).value());
    const int status = daemon.run(readiness);
    logger->flush();
    return status;
  } catch (const std::exception& e) {
    return fail(std::string("internal error: ") + e.what());
  }
}

}  // namespace rped::pedserver
