#include "daemon.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <csignal>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>

#include "ped_ids.h"
#include "peer_listener.h"
#include "remote_ped.h"
#include "rped/config/paths.h"
#include "rped/selftest.h"
#include "rped/service/admin_server.h"
#include "rped/service/daemon_start.h"
#include "rped/service/heartbeat.h"
#include "rped/service/net.h"

namespace rped::pedclient {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::seconds kHsmRetryInterval{1};
constexpr std::chrono::milliseconds kTestIdVerdictWait{2'000};

std::int64_t whole_seconds(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

// An admin command that waits for the link: the coroutine sleeps on `wake`
// until the link's callback stores the answer.
struct AdminWait final {
  explicit AdminWait(asio::io_context& io) : wake(io) {}
  asio::steady_timer wake;
  std::optional<nlohmann::json> answer;
  void complete(nlohmann::json value) {
    if (!answer) {
      answer = std::move(value);
      wake.cancel();
    }
  }
};

nlohmann::json ok_message(const std::string& message) {
  return {{"ok", true}, {"message", message}};
}
nlohmann::json error_message(const std::string& message) {
  return {{"ok", false}, {"error", message}};
}

// The HSM side of the backend: its requests arrive on the backend's reader
// thread and are posted to the daemon's io_context.
class Daemon final : public HsmRequestHandler {
 public:
  Daemon(const DaemonConfig& config, std::shared_ptr<spdlog::logger> log,
         service::ServiceManager& manager)
      : config_(config),
        log_(std::move(log)),
        signals_(io_),
        hsm_retry_(io_),
        force_timer_(io_),
        manager_(manager),
        heartbeat_(io_, manager, [this] { return service_status(); }),
        admin_(
            io_,
            service::AdminServerConfig{"pedclient", std::string(kSoftwareVersion),
                                       config.admin_port, config.external_admin, config.state_dir},
            log_, [this](const service::AdminRequest& request) { return admin_request(request); }),
        peer_(io_,
              PeerListenerConfig{config.peer_port, config.external_peer, config.state_dir,
                                 config.link.socket_read},
              log_, [this] { return peer_busy(); },
              [this](std::shared_ptr<service::TlsStream> stream, const AcceptedPedserver& from) {
                return accept_peer(std::move(stream), from);
              }) {
  }

  ~Daemon() override {
    // The backend's reader thread calls this object: stop it first.
    std::shared_ptr<HsmBackend> backend;
    {
      const std::lock_guard lock(backend_mu_);
      backend = std::move(backend_);
    }
    backend.reset();
    worker_.join();
  }

  int run(service::ReadinessReporter& readiness) {
    if (auto opened = admin_.open(); !opened.ok()) {
      return fail_start(readiness, opened.error().message);
    }
    if (auto made = config::ensure_private_directory(config_.audit.directory); !made.ok()) {
      return fail_start(readiness, "audit log directory: " + made.error().message);
    }
    auto store = AuditStore::open(config_.audit, [this](const AuditStoreEvent& event) {
      asio::post(io_, [this, event] { on_audit_event(event); });
    });
    if (!store.ok()) {
      return fail_start(readiness, "audit log: " + store.error().message);
    }
    audit_ = std::move(store).value();
    {
      const AuditStoreStatus audit = audit_->status();
      log_->info("audit log in {}: resuming after record {}", config_.audit.directory.string(),
                 audit.durable_seq);
    }
    log_->info("listening on {}", admin_.listening());
    if (auto peer = peer_.open(); !peer.ok()) {
      return fail_start(readiness, peer.error().message);
    } else if (peer.value()) {
      log_->info("listening on {} for PED-initiated connections (TLS 1.3, pinned PED servers)",
                 peer_.listening());
    }
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](const boost::system::error_code& error, int number) {
      if (!error) {
        begin_shutdown(number == SIGTERM ? "signal SIGTERM" : "signal SIGINT");
      }
    });
    admin_.start();
    peer_.start();
    if (auto attached = attach_hsm(); attached.ok()) {
      log_->info("pedclient {} ready: serving HSM {} ({}) through {} (admin port {}, pid {})",
                 kSoftwareVersion, hsm_serial_, hsm_model_, config_.hsm_socket.string(),
                 config_.admin_port, ::getpid());
      readiness.ready();
    } else {
      log_->warn("pedclient {} ready, but the HSM is not there: {}; looking for it every second",
                 kSoftwareVersion, attached.error().message);
      readiness.ready_degraded("HSM not reachable: " + attached.error().message);
      schedule_hsm_retry();
    }
    manager_.ready();
    heartbeat_.start();
    io_.run();
    log_->info("pedclient stopped");
    return service::kExitOk;
  }

  // --- HsmRequestHandler (backend reader thread) -----------------------------

  void on_connect_ped(std::uint32_t id, hsm::ConnectPedRequest request) override {
    asio::post(io_, [this, id, request = std::move(request)] { hsm_connect(id, request); });
  }
  void on_disconnect_ped(std::uint32_t id) override {
    asio::post(io_, [this, id] { hsm_disconnect(id); });
  }
  void on_ped_request(std::uint32_t id, hsm::PedRequest request) override {
    auto shared = std::make_shared<hsm::PedRequest>(std::move(request));
    asio::post(io_, [this, id, shared] {
      if (link_) {
        link_->ped_request(id, std::move(*shared));
      } else if (auto backend = current_backend()) {
        static_cast<void>(
            backend->refuse(hsm::MessageType::ped_request, id,
                            hsm::Failure{hsm::Status::no_ped_connection, std::nullopt,
                                         "no Remote PED connection is open (ped connect)"}));
      }
    });
  }
  // Records are made durable by the store's writer (group commit) and
  // acknowledged only then (docs/audit-log.md §4); the answer is posted: the
  // completion runs on the writer thread and a backend write may block.
  void on_audit_records(std::uint32_t id, hsm::AuditRecords records) override {
    auto backend = current_backend();
    if (!backend || !audit_) {
      return;
    }
    audit_->submit(std::move(records), [this, id, backend](std::uint64_t durable_seq) {
      asio::post(io_, [id, backend, durable_seq] {
        static_cast<void>(backend->complete_audit_records(id, durable_seq));
      });
    });
  }
  void on_hsm_lost(const Error& why) override {
    asio::post(io_, [this, message = why.message] { hsm_lost(message); });
  }

 private:
  // --- the HSM ---------------------------------------------------------------

  std::shared_ptr<HsmBackend> current_backend() {
    const std::lock_guard lock(backend_mu_);
    return backend_;
  }

  Result<void> attach_hsm() {
    if (config_.hsm_socket.empty()) {
      return make_error(Errc::invalid_argument,
                        "no HSM configured: give -hsm SOCKET (the HSM emulator's backend socket)");
    }
    RPED_TRY_ASSIGN(std::unique_ptr<HsmBackend> backend,
                    make_socket_hsm_backend(config_.hsm_socket, *this));
    std::shared_ptr<HsmBackend> shared = std::move(backend);
    RPED_TRY_ASSIGN(const HsmIdentity identity, shared->identity());
    hsm_serial_ = identity.serial;
    hsm_model_ = identity.model;
    hsm_label_ = identity.label;
    hsm_firmware_ = identity.firmware_version;
    {
      const std::lock_guard lock(backend_mu_);
      backend_ = std::move(shared);
    }
    hsm_attached_at_ = Clock::now();
    ++hsm_attachments_;
    heartbeat_.refresh();
    resume_audit();
    return {};
  }

  // Tells the HSM the last record held durably, so it resends from the next
  // (no gap, no duplicate); takes the host rotation `audit config` set.
  void resume_audit() {
    auto backend = current_backend();
    if (!backend || !audit_) {
      return;
    }
    const hsm::AuditResumeRequest request = audit_->resume_request();
    asio::post(worker_, [this, backend, request] {
      auto answer =
          std::make_shared<Result<hsm::AuditResumeResponse>>(backend->audit_resume(request));
      asio::post(io_, [this, answer, last = request.last_seq] {
        if (!answer->ok()) {
          log_->warn("audit: the HSM refused audit_resume: {}", answer->error().message);
          return;
        }
        const hsm::AuditResumeResponse& resume = answer->value();
        if (resume.next_seq > last + 1) {
          log_->error(
              "audit: the HSM resumes at record {} but the log here ends at {}: records {} "
              "to {} are missing on this host",
              resume.next_seq, last, last + 1, resume.next_seq - 1);
        }
        if (resume.rotation_bytes != 0 || resume.rotation_interval_s != 0) {
          audit_->set_rotation(
              resume.rotation_bytes != 0 ? resume.rotation_bytes : config_.audit.rotate_bytes,
              resume.rotation_interval_s != 0 ? std::chrono::seconds(resume.rotation_interval_s)
                                              : config_.audit.rotate_interval);
        }
        log_->info("audit: HSM head is record {}; it resends from {}", resume.head_seq,
                   resume.next_seq);
      });
    });
  }

  void on_audit_event(const AuditStoreEvent& event) {
    audit_tier_ = event.tier;
    audit_message_ = event.message;
    switch (event.level) {
      case AuditStoreEvent::Level::error:
        log_->error("audit: {}", event.message);
        break;
      case AuditStoreEvent::Level::warning:
        log_->warn("audit: {}", event.message);
        break;
      default:
        log_->info("audit: {}", event.message);
        break;
    }
    heartbeat_.refresh();
  }

  void schedule_hsm_retry() {
    if (stopping_) {
      return;
    }
    hsm_retry_.expires_after(kHsmRetryInterval);
    hsm_retry_.async_wait([this](const boost::system::error_code& error) {
      if (error || stopping_ || current_backend()) {
        return;
      }
      if (auto attached = attach_hsm(); attached.ok()) {
        log_->info("HSM {} ({}) attached through {}", hsm_serial_, hsm_model_,
                   config_.hsm_socket.string());
      } else {
        last_hsm_error_ = attached.error().message;
        schedule_hsm_retry();
      }
    });
  }

  void hsm_lost(const std::string& why) {
    log_->warn("the HSM went away: {}", why);
    last_hsm_error_ = why;
    heartbeat_.refresh();
    std::shared_ptr<HsmBackend> gone;
    {
      const std::lock_guard lock(backend_mu_);
      gone = std::move(backend_);
    }
    if (link_) {
      hsm_asked_disconnect_ = true;  // nobody to report to
      link_->close("the HSM went away");
    }
    // Destroying the backend joins its reader thread: not on that thread, and
    // not while this function holds anything the reader needs.
    asio::post(io_, [gone] {});
    schedule_hsm_retry();
  }

  // --- the link -----------------------------------------------------------------

  using ConnectDone = std::function<void(const std::optional<hsm::Failure>&, const LinkUp&)>;

  // Opens the one Remote PED connection: the HSM's identity on the worker
  // (it blocks), then the dial and handshake on the io_context.
  void open_link(LinkTarget target, ConnectDone done,
                 std::shared_ptr<service::TlsStream> accepted = nullptr) {
    auto backend = current_backend();
    if (!backend) {
      done(hsm::Failure{hsm::Status::internal, std::nullopt,
                        "the HSM is not attached (" + last_hsm_error_ + ")"},
           LinkUp{});
      return;
    }
    LinkServices services{io_, worker_, backend, log_, config_.link, ++link_counter_};
    LinkHooks hooks;
    hooks.connected = [this, done](const std::optional<hsm::Failure>& failure, const LinkUp& up) {
      if (failure) {
        last_end_ = failure->message;
        last_end_at_ = Clock::now();
      } else {
        connected_at_ = Clock::now();
      }
      heartbeat_.refresh();
      done(failure, up);
    };
    hooks.ended = [this](const service::ChannelEnd& end) { link_ended(end); };
    hooks.finished = [this, id = services.id] {
      if (link_ && link_id_ == id) {
        link_.reset();
        assigned_id_.reset();
      }
      heartbeat_.refresh();
      if (stopping_ && !link_) {
        finish_shutdown();
      }
    };
    link_id_ = services.id;
    hsm_asked_disconnect_ = false;
    link_ = std::make_shared<RemotePed>(std::move(target), std::move(services), std::move(hooks));
    asio::post(worker_, [this, backend, link = link_, accepted] {
      auto identity = std::make_shared<Result<HsmIdentity>>(backend->identity());
      asio::post(io_, [link, identity, accepted] {
        if (identity->ok() && accepted) {
          link->start_accepted(std::move(*identity).value(), accepted);
        } else if (identity->ok()) {
          link->start(std::move(*identity).value());
        } else {
          link->abort(hsm::Failure{
              hsm::Status::internal, std::nullopt,
              "cannot read the HSM's identity: " + identity->error().message.substr(0, 160)});
        }
      });
    });
  }

  void link_ended(const service::ChannelEnd& end) {
    last_end_ = end.transport_lost ? end.reason
                                   : std::string(channel::alert_name(end.code)) + ": " + end.reason;
    last_end_at_ = Clock::now();
    if (connected_at_) {
      finished_connection_time_ += Clock::now() - *connected_at_;
      connected_at_.reset();
    }
    if (assigned_id_) {
      release_assignment(*assigned_id_);
    }
    if (hsm_asked_disconnect_) {
      return;  // the HSM knows: it asked
    }
    if (auto backend = current_backend(); backend && link_ && link_->up()) {
      hsm::PedConnectionState state;
      state.connected = false;
      state.scheme = link_->target().scheme;
      state.pedserver = link_->up()->pedserver;
      state.rpk_serial = link_->up()->rpk_serial;
      state.reason = end.transport_lost ? channel::AlertCode::internal_error : end.code;
      state.detail = end.reason.substr(0, hsm::kMaxTextBytes);
      static_cast<void>(backend->report_ped_connection(state));
    }
  }

  void report_link_up(const LinkUp& up, channel::Scheme scheme) {
    if (auto backend = current_backend()) {
      hsm::PedConnectionState state;
      state.connected = true;
      state.scheme = scheme;
      state.pedserver = up.pedserver;
      state.rpk_serial = up.rpk_serial;
      static_cast<void>(backend->report_ped_connection(state));
    }
  }

  void hsm_connect(std::uint32_t id, const hsm::ConnectPedRequest& request) {
    auto backend = current_backend();
    if (!backend) {
      return;
    }
    if (link_ || stopping_) {
      static_cast<void>(backend->refuse(
          hsm::MessageType::connect_ped, id,
          hsm::Failure{hsm::Status::busy, std::nullopt,
                       stopping_ ? "pedclient is stopping"
                                 : "a Remote PED connection is open or being opened already (" +
                                       link_->target().host + ":" +
                                       std::to_string(link_->target().port) + ")"}));
      return;
    }
    log_->info("the HSM asks for a Remote PED connection to {}:{} ({})", request.host, request.port,
               channel::scheme_name(request.scheme));
    LinkTarget target{request.host, request.port, request.scheme,
                      std::chrono::milliseconds(request.timeout_ms), "ped connect from the HSM"};
    open_link(std::move(target), [this, id, scheme = request.scheme](
                                     const std::optional<hsm::Failure>& failure, const LinkUp& up) {
      auto answer_to = current_backend();
      if (!answer_to) {
        return;
      }
      if (failure) {
        static_cast<void>(answer_to->refuse(hsm::MessageType::connect_ped, id, *failure));
        return;
      }
      hsm::ConnectPedResponse response;
      response.rpk_serial = up.rpk_serial;
      response.pedserver = up.pedserver;
      response.peer_subject = up.peer_subject.substr(0, hsm::kMaxTextBytes);
      static_cast<void>(answer_to->complete_connect_ped(id, response));
      report_link_up(up, scheme);
    });
  }

  void hsm_disconnect(std::uint32_t id) {
    if (link_) {
      log_->info("the HSM asks to close the Remote PED connection");
      hsm_asked_disconnect_ = true;
      link_->close("the HSM closed the Remote PED connection (ped disconnect)");
    }
    if (auto backend = current_backend()) {
      static_cast<void>(backend->complete_disconnect_ped(id));
    }
  }

  // --- PED-initiated connections (peer_listener.h) ----------------------------

  std::optional<std::string> peer_busy() const {
    if (stopping_) {
      return "pedclient is stopping";
    }
    if (link_) {
      return "a Remote PED connection is open or being opened already (" + link_->target().host +
             ":" + std::to_string(link_->target().port) + "); one per HSM";
    }
    if (!backend_) {
      return "the HSM is not attached (" + last_hsm_error_ + ")";
    }
    return std::nullopt;
  }

  // A pinned PED server dialled in: the HSM side of the channel over its TLS
  // stream, Full Unified; the HSM learns of the link from ped_connection_state.
  std::optional<std::string> accept_peer(std::shared_ptr<service::TlsStream> stream,
                                         const AcceptedPedserver& from) {
    if (auto busy = peer_busy()) {
      return busy;  // the state changed during the TLS handshake
    }
    LinkTarget target{from.host, from.port, channel::Scheme::full_unified, config_.ped_timeout,
                      "PED-initiated by PED server '" + from.name + "'"};
    open_link(
        std::move(target),
        [this, name = from.name](const std::optional<hsm::Failure>& failure, const LinkUp& up) {
          if (failure) {
            log_->warn("PED-initiated connection from PED server '{}' failed: {}", name,
                       failure->message);
            return;
          }
          report_link_up(up, channel::Scheme::full_unified);
        },
        std::move(stream));
    return std::nullopt;
  }

  // --- PED ids ---------------------------------------------------------------

  std::filesystem::path ped_ids_file() const { return config_.state_dir / kPedIdsFileName; }

  void release_assignment(std::uint32_t id) {
    auto table = PedIdTable::load(ped_ids_file());
    if (table.ok()) {
      table->release(id);
      if (auto saved = table->save(ped_ids_file()); !saved.ok()) {
        log_->error("cannot record the release of PED id {}: {}", id, saved.error().message);
      }
    }
  }

  // --- administration --------------------------------------------------------

  static service::AdminAnswer reply(nlohmann::json body, bool keep = false) {
    return service::AdminAnswer{std::move(body), keep};
  }

  awaitable<service::AdminAnswer> admin_request(const service::AdminRequest& request) {
    const std::string& command = request.command;
    if (command == admin_command::show) {
      co_return reply(status_answer());
    }
    if (command == admin_command::stop) {
      log_->info("admin: stop requested from {}", request.peer);
      begin_shutdown("admin stop request");
      co_return reply(stopping_answer(), true);
    }
    if (stopping_) {
      co_return reply(error_message("pedclient is stopping"));
    }
    if (command == admin_command::assignid) {
      nlohmann::json answer = co_await assign_id(request.body);
      co_return reply(std::move(answer));
    }
    if (command == admin_command::releaseid) {
      co_return reply(release_id(request.body));
    }
    if (command == admin_command::testid) {
      nlohmann::json answer = co_await test_id(request.body);
      co_return reply(std::move(answer));
    }
    co_return service::admin_refusal("unknown command '" + command.substr(0, 32) + "'");
  }

  static nlohmann::json stopping_answer() {
    return {{"ok", true}, {"message", "stopping"}, {"pid", ::getpid()}};
  }
  nlohmann::json status_answer() const { return {{"ok", true}, {"status", status_document()}}; }

  static std::optional<std::uint32_t> id_field(const nlohmann::json& body) {
    if (!body.contains("id") || !body["id"].is_number_unsigned()) {
      return std::nullopt;
    }
    const auto id = body["id"].get<std::uint64_t>();
    if (id > kMaxPedId) {
      return std::nullopt;
    }
    return static_cast<std::uint32_t>(id);
  }

  awaitable<nlohmann::json> assign_id(const nlohmann::json& body) {
    const std::optional<std::uint32_t> id = id_field(body);
    if (!id || !body.contains("serial") || !body["serial"].is_number_unsigned()) {
      co_return error_message("assignid needs \"id\" (1-65534) and \"serial\"");
    }
    const auto serial = body["serial"].get<std::uint64_t>();
    if (!current_backend()) {
      co_return error_message("the HSM is not attached (" + last_hsm_error_ + ")");
    }
    if (serial != hsm_serial_) {
      co_return error_message("this pedclient serves HSM " + std::to_string(hsm_serial_) +
                              ", not HSM " + std::to_string(serial));
    }
    auto table = PedIdTable::load(ped_ids_file());
    if (!table.ok()) {
      co_return error_message(table.error().message);
    }
    if (auto assigned = table->assign(*id, serial); !assigned.ok()) {
      co_return error_message(assigned.error().message);
    }
    if (link_) {
      co_return error_message("a Remote PED connection is open or being opened already (" +
                              link_->target().host + ":" + std::to_string(link_->target().port) +
                              "); one connection per HSM");
    }
    const PedIdMapping mapping = *table->find(*id).value();
    auto wait = std::make_shared<AdminWait>(io_);
    log_->info("admin: assignid {} -> HSM {}: connecting to {}:{}", *id, serial, mapping.host,
               mapping.port);
    open_link(
        LinkTarget{mapping.host, mapping.port, channel::Scheme::full_unified, config_.ped_timeout,
                   "assignid " + std::to_string(*id)},
        [this, wait, id = *id, serial](const std::optional<hsm::Failure>& failure,
                                       const LinkUp& up) {
          if (failure) {
            wait->complete(error_message("PED id " + std::to_string(id) + ": " + failure->message));
            return;
          }
          auto saved_table = PedIdTable::load(ped_ids_file());
          if (saved_table.ok() && saved_table->assign(id, serial).ok()) {
            static_cast<void>(saved_table->save(ped_ids_file()));
          }
          assigned_id_ = id;
          report_link_up(up, channel::Scheme::full_unified);
          wait->complete(ok_message("PED id " + std::to_string(id) + " assigned to HSM " +
                                    std::to_string(serial) + ": connected to " + up.pedserver +
                                    " (RPK " + std::to_string(up.rpk_serial) + ")"));
        });
    co_return co_await wait_for(wait);
  }

  awaitable<nlohmann::json> wait_for(std::shared_ptr<AdminWait> wait) {
    while (!wait->answer) {
      wait->wake.expires_at(Clock::time_point::max());
      boost::system::error_code ignored;
      co_await wait->wake.async_wait(asio::redirect_error(use_awaitable, ignored));
    }
    co_return std::move(*wait->answer);
  }

  nlohmann::json release_id(const nlohmann::json& body) {
    auto table = PedIdTable::load(ped_ids_file());
    if (!table.ok()) {
      return error_message(table.error().message);
    }
    std::optional<std::uint32_t> id = id_field(body);
    if (!id && body.contains("serial") && body["serial"].is_number_unsigned()) {
      id = table->id_of(body["serial"].get<std::uint64_t>());
      if (!id) {
        return error_message("HSM " + std::to_string(body["serial"].get<std::uint64_t>()) +
                             " has no PED id assigned");
      }
    }
    if (!id) {
      return error_message("releaseid needs \"id\" (1-65534) or \"serial\"");
    }
    auto mapping = table->find(*id);
    if (!mapping.ok()) {
      return error_message(mapping.error().message);
    }
    const bool was_assigned = mapping.value()->assigned_serial.has_value();
    table->release(*id);
    if (auto saved = table->save(ped_ids_file()); !saved.ok()) {
      return error_message(saved.error().message);
    }
    if (link_ && assigned_id_ == *id) {
      link_->close("PED id " + std::to_string(*id) + " released (releaseid)");
      return ok_message("PED id " + std::to_string(*id) +
                        " released; its Remote PED connection is closing");
    }
    return ok_message(was_assigned ? "PED id " + std::to_string(*id) + " released"
                                   : "PED id " + std::to_string(*id) + " was not assigned");
  }

  // A real handshake start against the PED server of a PED id: TCP connect
  // (timed), then the HSM's HsmHello. A PED server that refuses (busy, no PED,
  // an HSM chain it does not trust) says so with an Alert at once; one that
  // accepts starts asking the custodian for the orange key, so the test ends
  // there with close_notify. Round-trip time is the TCP connect's.
  awaitable<nlohmann::json> test_id(const nlohmann::json& body) {
    const std::optional<std::uint32_t> id = id_field(body);
    if (!id) {
      co_return error_message("testid needs \"id\" (1-65534)");
    }
    auto table = PedIdTable::load(ped_ids_file());
    if (!table.ok()) {
      co_return error_message(table.error().message);
    }
    auto found = table->find(*id);
    if (!found.ok()) {
      co_return error_message(found.error().message);
    }
    const PedIdMapping mapping = *found.value();
    auto backend = current_backend();
    if (!backend) {
      co_return error_message("the HSM is not attached (" + last_hsm_error_ + ")");
    }
    const std::string where = mapping.host + ":" + std::to_string(mapping.port);
    service::TcpSocket socket(asio::make_strand(io_));
    const Clock::time_point started = Clock::now();
    const Result<void> dialled = co_await service::dial(
        socket, mapping.host, mapping.port, "the PED server", started + config_.link.socket_write);
    if (!dialled.ok()) {
      co_return error_message("PED id " + std::to_string(*id) + ": " + dialled.error().message);
    }
    boost::system::error_code error;
    const auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
    // The identity call blocks: on the worker.
    auto identity = std::make_shared<std::optional<Result<HsmIdentity>>>();
    auto wait = std::make_shared<AdminWait>(io_);
    asio::post(worker_, [this, backend, identity, wait] {
      auto fetched = backend->identity();
      asio::post(io_, [identity, wait, fetched = std::move(fetched)]() mutable {
        identity->emplace(std::move(fetched));
        wait->complete(nullptr);
      });
    });
    co_await wait_for(wait);
    if (!identity->has_value() || !(*identity)->ok()) {
      co_return error_message("cannot read the HSM's identity");
    }
    channel::HsmEndpointConfig endpoint_config;
    endpoint_config.scheme = channel::Scheme::full_unified;
    endpoint_config.hsm_serial = (*identity)->value().serial;
    endpoint_config.certificate_chain = (*identity)->value().certificate_chain;
    auto endpoint = channel::Endpoint::hsm(std::move(endpoint_config));
    if (!endpoint.ok()) {
      co_return error_message("cannot start the channel: " + endpoint.error().message);
    }
    const channel::Output hello = endpoint->start();
    co_await asio::async_write(socket, asio::buffer(hello.send),
                               asio::redirect_error(use_awaitable, error));
    std::string verdict =
        "the PED server accepted HSM " + std::to_string(endpoint_config.hsm_serial) +
        "'s certificate chain and asked the custodian to confirm it (test ended there: no key was "
        "read)";
    bool passed = !error;
    if (error) {
      verdict = "cannot send HsmHello: " + error.message();
    } else {
      std::array<std::uint8_t, 1024> buffer{};
      asio::steady_timer limit(io_);
      limit.expires_after(kTestIdVerdictWait);
      limit.async_wait([&socket](const boost::system::error_code& waited) {
        if (!waited) {
          boost::system::error_code ignored;
          socket.cancel(ignored);
        }
      });
      const std::size_t n = co_await socket.async_read_some(
          asio::buffer(buffer), asio::redirect_error(use_awaitable, error));
      limit.cancel();
      if (!error && n > 0) {
        const channel::Output answer = endpoint->receive(ByteView(buffer.data(), n));
        for (const channel::Event& event : answer.events) {
          if (const auto* closed = std::get_if<channel::ClosedEvent>(&event)) {
            passed = false;
            verdict = "the PED server refused: " + std::string(channel::alert_name(closed->code)) +
                      (closed->detail.empty() ? "" : " (" + closed->detail + ")");
          }
        }
      } else if (error && error != asio::error::operation_aborted) {
        passed = false;
        verdict = "the PED server closed the connection: " + error.message();
      }
      if (passed) {
        const channel::Output goodbye =
            endpoint->close(channel::AlertCode::close_notify, "pedclient testid");
        co_await asio::async_write(socket, asio::buffer(goodbye.send),
                                   asio::redirect_error(use_awaitable, error));
      }
    }
    socket.close(error);
    log_->info("admin: testid {} ({}): {}; TCP round trip {} us", *id, where, verdict, rtt.count());
    co_return testid_result(passed, *id, where, rtt, verdict);
  }

  // (Outside the coroutine: GCC 12 mishandles braced initializer lists there.)
  static nlohmann::json testid_result(bool passed, std::uint32_t id, const std::string& where,
                                      std::chrono::microseconds rtt, const std::string& verdict) {
    nlohmann::json result = {{"ok", passed},
                             {"id", id},
                             {"pedserver", where},
                             {"round_trip_us", rtt.count()},
                             {"message", verdict}};
    if (!passed) {
      result["error"] = "PED id " + std::to_string(id) + " (" + where + "): " + verdict;
    }
    return result;
  }

  nlohmann::json status_document() const {
    const Clock::time_point now = Clock::now();
    nlohmann::json link = nullptr;
    std::int64_t current = 0;
    if (link_) {
      link = {{"state", link_->state_text()},
              {"pedserver", link_->target().host + ":" + std::to_string(link_->target().port)},
              {"scheme", channel::scheme_name(link_->target().scheme)},
              {"origin", link_->target().origin},
              {"operations", link_->operations()}};
      if (const auto& up = link_->up()) {
        link["rpk_serial"] = up->rpk_serial;
        link["peer_subject"] = up->peer_subject;
      }
      if (connected_at_) {
        current = whole_seconds(now - *connected_at_);
        link["connection_time_s"] = current;
      }
      if (const auto last = link_->last_activity()) {
        link["idle_time_s"] = whole_seconds(now - *last);
      }
    }
    nlohmann::json ids = nlohmann::json::array();
    if (auto table = PedIdTable::load(ped_ids_file()); table.ok()) {
      for (const auto& [id, mapping] : table->entries()) {
        nlohmann::json entry = {{"id", id}, {"host", mapping.host}, {"port", mapping.port}};
        entry["assigned_serial"] =
            mapping.assigned_serial ? nlohmann::json(*mapping.assigned_serial) : nullptr;
        entry["connected"] = assigned_id_ == id && link_ && link_->up().has_value();
        ids.push_back(std::move(entry));
      }
    }
    const bool attached = backend_ != nullptr;
    return {{"client",
             {{"hostname", service::host_name()},
              {"pid", ::getpid()},
              {"owner_uid", ::geteuid()},
              {"software_version", kSoftwareVersion},
              {"admin_port", config_.admin_port},
              {"external_admin_interface", config_.external_admin},
              {"up_time_s", whole_seconds(now - started_at_)},
              {"idle_timeout_s", config_.link.idle_enabled
                                     ? nlohmann::json(whole_seconds(config_.link.idle))
                                     : nlohmann::json(nullptr)},
              {"log_file", config_.log.file.string()},
              {"state_dir", config_.state_dir.string()}}},
            {"hsm",
             {{"socket", config_.hsm_socket.string()},
              {"attached", attached},
              {"serial", attached ? nlohmann::json(hsm_serial_) : nlohmann::json(nullptr)},
              {"label", hsm_label_},
              {"model", hsm_model_},
              {"firmware_version", hsm_firmware_},
              {"last_error", attached ? std::string() : last_hsm_error_}}},
            {"link", link},
            {"last_end", last_end_.empty()
                             ? nlohmann::json(nullptr)
                             : nlohmann::json{{"reason", last_end_},
                                              {"seconds_ago", whole_seconds(now - last_end_at_)}}},
            {"connections",
             {{"links", link_counter_},
              {"current_connection_time_s", current},
              {"total_connection_time_s", whole_seconds(finished_connection_time_) + current}}},
            {"ped_ids", ids},
            {"audit", audit_document()},
            {"peer_listener", peer_.status_document()}};
  }

  nlohmann::json audit_document() const {
    if (!audit_) {
      return nullptr;
    }
    const AuditStoreStatus audit = audit_->status();
    return {{"directory", config_.audit.directory.string()},
            {"durable_seq", audit.durable_seq},
            {"current_file", audit.current_file.string()},
            {"disk_tier", disk_tier_name(audit.tier)},
            {"free_bytes", audit.free_bytes},
            {"pending_batches", audit.pending_batches},
            {"syncs", audit.syncs}};
  }

  // One line for systemd's STATUS= (docs/deployment.md).
  std::string service_status() const {
    if (stopping_) {
      return "stopping";
    }
    if (audit_tier_ != DiskTier::ok) {
      return "audit log disk " + std::string(disk_tier_name(audit_tier_)) + ": " + audit_message_;
    }
    if (!backend_) {
      return "HSM not reachable: " + last_hsm_error_;
    }
    if (!link_) {
      return "serving HSM " + std::to_string(hsm_serial_) + "; no Remote PED connection";
    }
    return "HSM " + std::to_string(hsm_serial_) + ": Remote PED " + link_->state_text() + " with " +
           link_->target().host + ":" + std::to_string(link_->target().port);
  }

  // --- start and shutdown --------------------------------------------------------

  int fail_start(service::ReadinessReporter& readiness, const std::string& why) {
    log_->error("cannot start: {}", why);
    readiness.failed(why);
    manager_.failed(why);
    if (!config_.log.to_stderr) {
      std::fprintf(stderr, "pedclient: %s\n", why.c_str());
    }
    return service::kExitFailure;
  }

  void begin_shutdown(const std::string& why) {
    if (stopping_) {
      return;
    }
    stopping_ = true;
    manager_.stopping();
    heartbeat_.refresh();
    log_->info("stopping ({})", why);
    admin_.stop_accepting();
    peer_.stop();
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    hsm_retry_.cancel();
    if (link_) {
      link_->close("pedclient is stopping");
      force_timer_.expires_after(config_.shutdown);
      force_timer_.async_wait([this](const boost::system::error_code& error) {
        if (!error && link_) {
          log_->warn(
              "the Remote PED connection did not close within {} s (-shutdowntimeout): "
              "cutting it",
              config_.shutdown.count());
          link_->force_close("cut at shutdown (-shutdowntimeout)");
        }
      });
      return;
    }
    finish_shutdown();
  }

  void finish_shutdown() {
    if (finishing_) {
      return;
    }
    finishing_ = true;
    force_timer_.cancel();
    admin_.close();
    heartbeat_.stop();
    io_.stop();
  }

  asio::io_context io_{1};
  asio::thread_pool worker_{1};
  const DaemonConfig& config_;
  std::shared_ptr<spdlog::logger> log_;
  asio::signal_set signals_;
  asio::steady_timer hsm_retry_;
  asio::steady_timer force_timer_;
  service::ServiceManager& manager_;
  service::ServiceHeartbeat heartbeat_;
  service::AdminServer admin_;
  PeerListener peer_;

  mutable std::mutex backend_mu_;  // backend_ is read from the worker too
  std::shared_ptr<HsmBackend> backend_;
  std::uint64_t hsm_serial_ = 0;
  std::string hsm_model_;
  std::string hsm_label_;
  std::string hsm_firmware_;
  std::string last_hsm_error_ = "not attached yet";
  Clock::time_point hsm_attached_at_{};
  std::uint64_t hsm_attachments_ = 0;

  std::unique_ptr<AuditStore> audit_;
  DiskTier audit_tier_ = DiskTier::ok;
  std::string audit_message_;

  std::shared_ptr<RemotePed> link_;
  std::uint64_t link_id_ = 0;
  std::uint64_t link_counter_ = 0;
  std::optional<std::uint32_t> assigned_id_;
  bool hsm_asked_disconnect_ = false;
  std::optional<Clock::time_point> connected_at_;
  Clock::duration finished_connection_time_{};
  std::string last_end_;
  Clock::time_point last_end_at_{};
  const Clock::time_point started_at_ = Clock::now();

  bool stopping_ = false;
  bool finishing_ = false;
};

}  // namespace

int run_daemon(const DaemonConfig& config, service::ReadinessReporter readiness,
               service::ServiceManager& manager) {
  service::DaemonStart start("pedclient", config.log, readiness, manager);
  if (!start.begin(kSoftwareVersion, config.state_dir)) {
    return service::kExitFailure;
  }
  std::shared_ptr<spdlog::logger> logger = start.logger();
  const auto fail = [&start](const std::string& why) { return start.fail(why); };
  try {
    Daemon daemon(config, logger, manager);
    const int status = daemon.run(readiness);
    logger->flush();
    return status;
  } catch (const std::exception& e) {
    return fail(std::string("internal error: ") + e.what());
  }
}

}  // namespace rped::pedclient
