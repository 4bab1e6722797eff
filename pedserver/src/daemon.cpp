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

#include "ped_connection.h"
#include "peer_link.h"
#include "rped/channel/messages.h"
#include "rped/config/paths.h"
#include "rped/selftest.h"
#include "rped/service/admin.h"
#include "rped/service/admin_server.h"
#include "rped/service/daemon_start.h"
#include "rped/service/heartbeat.h"
#include "rped/service/net.h"
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

using SocketDeadline = service::SocketDeadline<TcpSocket>;
using service::CountedScope;

class Daemon final {
 public:
  Daemon(const DaemonConfig& config, std::shared_ptr<spdlog::logger> log, TrustAnchors anchors,
         service::ServiceManager& manager)
      : manager_(manager),
        heartbeat_(io_, manager, [this] { return service_status(); }),
        config_(config),
        log_(std::move(log)),
        trust_directory_(config.trust_dir),
        trust_anchor_count_(anchors.roots.size()),
        ped_(io_, config.ped, config.ped_write_delay, log_),
        signals_(io_),
        force_timer_(io_),
        admin_(
            io_,
            service::AdminServerConfig{"pedserver", std::string(kSoftwareVersion),
                                       config.admin_port, config.external_admin, config.state_dir},
            log_, [this](const service::AdminRequest& request) { return admin_request(request); }),
        peers_(io_, PeerLinkServices{
                        log_, config.state_dir, config.session, [this] { return session_active(); },
                        [this] { return next_session_id(); }, [this] { return make_endpoint(); },
                        [this] { return session_services(); },
                        [this](std::shared_ptr<SessionHandle> session) {
                          adopt_peer_session(std::move(session));
                        }}) {}

  int run(service::ReadinessReporter& readiness) {
    if (auto bound = bind_listeners(); !bound.ok()) {
      return fail_start(readiness, bound.error().message);
    }

    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](const boost::system::error_code& error, int number) {
      if (!error) {
        begin_shutdown(std::string("signal ") + strsigabbrev_or(number));
      }
    });
    admin_.start();
    ped_.start([this, &readiness] {
      // HSM connections are accepted once the PED was probed: until then the
      // kernel queues them (the first one may be what socket-activated us),
      // rather than refusing them with ped_unplugged before the PED was looked for.
      for (tcp::acceptor& acceptor : server_acceptors_) {
        spawn(accept_hsm_connections(acceptor));
      }
      if (ped_.connected()) {
        log_->info("pedserver {} ready: serving {} on {} (admin port {}, pid {})", kSoftwareVersion,
                   ped_.device_description(), listen_text(), config_.admin_port, ::getpid());
        readiness.ready();
      } else {
        log_->warn("pedserver {} ready, but the PED is not there: {}; looking for it every second",
                   kSoftwareVersion, ped_.last_error());
        readiness.ready_degraded("PED not found: " + ped_.last_error());
      }
      // systemd: listeners bound and the PED probed (found or not: it is looked for again).
      manager_.ready();
      heartbeat_.start();
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

  int fail_start(service::ReadinessReporter& readiness, const std::string& why) {
    log_->error("cannot start: {}", why);  // also on standard error when the log goes there
    readiness.failed(why);
    manager_.failed(why);
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

  Result<void> bind_listeners() {
    RPED_TRY(adopt_activated_listeners());
    std::vector<tcp::endpoint> endpoints;  // none to bind when systemd passed the listeners
    if (server_acceptors_.empty()) {
      RPED_TRY_ASSIGN(endpoints, server_endpoints());
    }
    for (const tcp::endpoint& endpoint : endpoints) {
      RPED_TRY_ASSIGN(tcp::acceptor acceptor,
                      service::listen_tcp(io_, endpoint, "HSM connections", "-port", "pedserver"));
      boost::system::error_code error;
      listening_.push_back(endpoint_text(acceptor.local_endpoint(error)) + " (HSM connections)");
      server_acceptors_.push_back(std::move(acceptor));
    }
    RPED_TRY(admin_.open());
    listening_.push_back(admin_.listening());
    for (const std::string& where : listening_) {
      log_->info("listening on {}", where);
    }
    return {};
  }

  // Socket activation (pedserver.socket): the HSM listeners systemd passed,
  // checked strictly (systemd.h); none passed: bind_listeners binds its own.
  Result<void> adopt_activated_listeners() {
    RPED_TRY_ASSIGN(const std::vector<service::ListenSocket> passed,
                    manager_.listen_fds(service::ListenExpectation{
                        "pedserver", "HSM connections", "pedserver.socket", config_.port, "-port",
                        !config_.external_server}));
    for (const service::ListenSocket& socket : passed) {
      tcp::acceptor acceptor(io_);
      boost::system::error_code error;
      acceptor.assign(socket.family == AF_INET6 ? tcp::v6() : tcp::v4(), socket.fd, error);
      if (error) {
        ::close(socket.fd);
        return make_error(Errc::internal, "socket activation: cannot use descriptor " +
                                              std::to_string(socket.fd) + ": " + error.message());
      }
      listening_.push_back(socket.local + " (HSM connections, from systemd: " + socket.name + ")");
      server_acceptors_.push_back(std::move(acceptor));
    }
    return {};
  }

  // The one-line state systemd shows (STATUS=, `systemctl status pedserver`).
  std::string service_status() const {
    if (stopping_) {
      return "stopping";
    }
    if (!ped_.connected()) {
      return "PED disconnected: " + ped_.last_error() + "; looking for it every second";
    }
    if (!active_) {
      return "waiting for pedclient";
    }
    const ClientStatus client = active_->describe();
    std::string from = client.peer.substr(0, client.peer.rfind(':'));  // the address, no port
    if (from.size() > 2 && from.front() == '[' && from.back() == ']') {
      from = from.substr(1, from.size() - 2);
    }
    if (client.hsm_serial) {
      return "serving HSM " + std::to_string(*client.hsm_serial) + " from " + from;
    }
    return "connection from " + from + ": " + client.state;
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
    endpoint_config.pinned_hoc_sha256 = std::move(anchors.pinned_hoc_sha256);
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
    heartbeat_.refresh();
  }

  SessionServices session_services() {
    return SessionServices{ped_, status_, log_,
                           [this](std::uint64_t id) { on_session_finished(id); },
                           trust_directory_};
  }

  void adopt_peer_session(std::shared_ptr<SessionHandle> session) {
    ++status_.sessions;
    active_ = std::move(session);
    active_->start();
    heartbeat_.refresh();
  }

  void on_session_finished(std::uint64_t id) {
    if (active_ && active_->id() == id) {
      active_.reset();
      heartbeat_.refresh();
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

  // (Answers are built outside the coroutine: GCC 12 mishandles braced
  // initializer lists inside one.)
  static service::AdminAnswer answer(nlohmann::json body) { return {std::move(body), false}; }
  static service::AdminAnswer stopping_answer() {
    nlohmann::json body = {{"ok", true}, {"message", "stopping"}, {"pid", ::getpid()}};
    return {std::move(body), true};
  }
  service::AdminAnswer status_answer() const {
    nlohmann::json body = {{"ok", true}, {"status", status_document()}};
    return answer(std::move(body));
  }
  static service::AdminAnswer message_answer(const std::string& message) {
    nlohmann::json body = {{"ok", true}, {"message", message}};
    return answer(std::move(body));
  }

  awaitable<service::AdminAnswer> admin_request(const service::AdminRequest& admin) {
    const std::string& command = admin.command;
    const nlohmann::json& request = admin.body;
    const std::string& peer = admin.peer;
    if (command == service::admin_command::show) {
      co_return status_answer();
    }
    if (command == service::admin_command::stop) {
      log_->info("admin: stop requested from {}", peer);
      begin_shutdown("admin stop request");
      co_return stopping_answer();
    }
    if (command == admin_command::connect || command == admin_command::disconnect) {
      if (!request.contains("name") || !request["name"].is_string()) {
        co_return service::admin_refusal(command + " needs \"name\"");
      }
      if (stopping_) {
        co_return service::admin_refusal("pedserver is stopping");
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
        co_return service::admin_refusal(done->error().message);
      }
      co_return message_answer(done->value());
    }
    co_return service::admin_refusal("unknown command '" + command.substr(0, 32) + "'");
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
             {{"hostname", service::host_name()},
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
    manager_.stopping();
    heartbeat_.refresh();
    log_->info("stopping ({})", why);
    boost::system::error_code ignored;
    for (tcp::acceptor& acceptor : server_acceptors_) {
      acceptor.close(ignored);
    }
    admin_.stop_accepting();
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
      heartbeat_.stop();
      ped_.stop();
      admin_.close();
      io_.stop();
    });
  }

  asio::io_context io_{1};
  service::ServiceManager& manager_;
  service::ServiceHeartbeat heartbeat_;
  const DaemonConfig& config_;
  std::shared_ptr<spdlog::logger> log_;
  const std::filesystem::path trust_directory_;
  std::size_t trust_anchor_count_ = 0;
  StatusBoard status_;
  PedConnection ped_;
  asio::signal_set signals_;
  asio::steady_timer force_timer_;
  service::AdminServer admin_;
  std::vector<tcp::acceptor> server_acceptors_;
  std::vector<std::string> listening_;
  std::shared_ptr<SessionHandle> active_;
  std::uint64_t session_counter_ = 0;
  unsigned lingering_refusals_ = 0;
  bool stopping_ = false;
  bool finishing_ = false;
  PeerLinks peers_;
};

}  // namespace

int run_daemon(const DaemonConfig& config, service::ReadinessReporter readiness,
               service::ServiceManager& manager) {
  // 1. The log, 2. the power-on self-test, 3. the state directory
  // (service/daemon_start.h); then the trust anchors.
  service::DaemonStart start("pedserver", config.log, readiness, manager);
  if (!start.begin(kSoftwareVersion, config.state_dir)) {
    return kExitFailure;
  }
  std::shared_ptr<spdlog::logger> logger = start.logger();
  const auto fail = [&start](const std::string& why) { return start.fail(why); };
  auto anchors = load_trust_anchors(config.trust_dir);
  if (!anchors.ok()) {
    return fail(anchors.error().message);
  }
  logger->info("{} manufacturer root(s) trusted from {}", anchors->roots.size(),
               config.trust_dir.string());
  try {
    Daemon daemon(config, logger, std::move(anchors).value(), manager);
    const int status = daemon.run(readiness);
    logger->flush();
    return status;
  } catch (const std::exception& e) {
    return fail(std::string("internal error: ") + e.what());
  }
}

}  // namespace rped::pedserver
