// Test stand-ins for everything around hsmsim, so the emulator's firmware runs
// for real against its backend socket:
//
//   FakePed        the PED: answers device-form frames (read_secret,
//                  create_keyset, create_rpk_keyset) from in-memory keys, and
//                  does the PED side's key derivation (orange key or typed password)
//   FakePedclient  pedclient: attaches to the backend socket with the real
//                  client (rped_hsm_backend), runs the channel's two endpoints
//                  back to back (channel_harness.h) with the HSM deriving its
//                  side through the backend, and carries PED frames through the
//                  channel in channel form, as pedclient and pedserver will
//   TestConsole    an operator console that records output and answers prompts
//   HsmBench       a state directory, an Hsm, its BackendServer and a FakePedclient
//
// Header-only; setup failures throw (GoogleTest reports them).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rped/channel/endpoint.h"
#include "rped/channel/messages.h"
#include "rped/hsm/backend_protocol.h"
#include "rped/hsmsim/backend_server.h"
#include "rped/hsmsim/command_line.h"
#include "rped/hsmsim/hsm.h"
#include "rped/hsmsim/state_directory.h"
#include "rped/ped/device_protocol.h"
#include "rped/ped/remote_ops.h"
#include "rped/pedclient/hsm_backend.h"
#include "support/channel_harness.h"
#include "support/result_assertions.h"

namespace rped::hsmsim::test {

using rped::test::must;

// A private temporary directory, removed with its contents.
class TempDir final {
 public:
  TempDir() {
    std::string pattern = "/tmp/hsmsim-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------------------

class FakePed final {
 public:
  struct OrangeKey {
    std::uint64_t hsm_serial = 0;
    std::uint64_t rpk_serial = 0;
    SecretBytes rpv;
    SecretBytes rpk_private;
    crypto::Certificate certificate{nullptr};
  };

  // Answers one command frame (device form) with a response frame.
  Bytes handle(const ped::DeviceFrame& command) {
    const std::lock_guard lock(mu_);
    ops_.push_back(command.op);
    const auto respond = [&](Bytes body) {
      return ped::DeviceFrame{ped::FrameKind::response, command.op, command.request_id,
                              std::move(body)}
          .serialize();
    };
    if (!failures_.empty()) {
      const ped::Status status = failures_.front();
      failures_.pop_front();
      return respond(ped::error_response(status, "scripted"));
    }
    switch (command.op) {
      case ped::Op::read_secret: {
        const auto request = must(ped::ReadSecretRequest::parse(command.body));
        const auto it = keys_.find(owner(request.context));
        if (it == keys_.end()) {
          return respond(ped::error_response(ped::Status::blank_key, "no such key"));
        }
        ped::ReadSecretResponse response;
        response.keyset_id =
            Bytes(ped::kKeysetIdBytes, static_cast<std::uint8_t>(request.key_type));
        response.secret =
            present_wrong_secret_ ? SecretBytes::copy_of(Bytes(32, 0x66)) : it->second.clone();
        return respond(ped::ok_response(response.serialize()));
      }
      case ped::Op::create_keyset: {
        auto request = must(ped::CreateKeysetRequest::parse(command.body));
        ped::CreateKeysetResponse response;
        const auto it = keys_.find(owner(request.context));
        response.reused = reuse_ && request.allow_reuse && it != keys_.end();
        response.secret = response.reused ? it->second.clone() : request.secret.clone();
        keys_[owner(request.context)] = response.secret.clone();
        response.m = 1;
        response.n = 1;
        response.keyset_id =
            Bytes(ped::kKeysetIdBytes, static_cast<std::uint8_t>(request.key_type));
        created_.push_back(request.key_type);
        return respond(ped::ok_response(response.serialize()));
      }
      case ped::Op::create_rpk_keyset: {
        auto request = must(ped::CreateRpkKeysetRequest::parse(command.body));
        OrangeKey key;
        key.hsm_serial = request.hsm_serial;
        key.rpk_serial = request.rpk_serial;
        key.rpv = std::move(request.rpv);
        key.rpk_private = std::move(request.rpk_private);
        key.certificate = must(crypto::Certificate::from_der(request.rpk_certificate));
        orange_ = std::move(key);
        ped::CreateRpkKeysetResponse response;
        response.m = 1;
        response.n = 1;
        return respond(ped::ok_response(response.serialize()));
      }
      default:
        return respond(ped::error_response(ped::Status::bad_request, "not emulated here"));
    }
  }

  // The custodian picks keys by what the PED shows: "HSM 1 / HSM SO LOGIN",
  // "HSM 1 / NEW HSM SO" and "HSM 1 / HSM SO" all mean the SO's keys.
  static std::string owner(std::string context) {
    const std::string login = " LOGIN";
    if (context.size() > login.size() &&
        context.compare(context.size() - login.size(), login.size(), login) == 0) {
      context.resize(context.size() - login.size());
    }
    if (const auto at = context.find(" / NEW "); at != std::string::npos) {
      context.erase(at + 3, 4);
    }
    return context;
  }

  // The PED side's device (docs/protocol.md §1).
  Result<SecretBytes> derive(const channel::KeyDerivationRequest& request) {
    std::unique_lock lock(mu_);
    if (request.transcript.scheme == channel::Scheme::full_unified) {
      if (!orange_) {
        return make_error(Errc::invalid_argument, "no orange key");
      }
      const auto rpk =
          must(crypto::EcKeyPair::from_private(crypto::Curve::p521, orange_->rpk_private.reveal()));
      return channel::derive_dkm(request, &rpk, orange_->rpv.reveal());
    }
    // "Enter PED Password.": the custodian types what the HSM operator read out.
    if (!typed_cv_.wait_for(lock, std::chrono::seconds(10),
                            [&] { return !typed_password_.empty(); })) {
      return make_error(Errc::invalid_argument, "nobody typed a password");
    }
    return channel::derive_dkm(request, nullptr, typed_password_.reveal());
  }

  channel::PedEndpointConfig endpoint_config(channel::Scheme scheme,
                                             const crypto::Certificate& root) {
    const std::lock_guard lock(mu_);
    channel::PedEndpointConfig config;
    config.manufacturer_roots = must(crypto::TrustStore::from_anchors(std::span(&root, 1)));
    if (scheme == channel::Scheme::full_unified && orange_) {
      config.rpk_certificate = orange_->certificate;
      config.rpk_serial = orange_->rpk_serial;
    } else {
      config.allow_password_mode = true;
    }
    return config;
  }

  // Knobs.
  void type_password(const SecretBytes& password) {
    {
      const std::lock_guard lock(mu_);
      typed_password_ = password.clone();
    }
    typed_cv_.notify_all();
  }
  void fail_next(ped::Status status) {
    const std::lock_guard lock(mu_);
    failures_.push_back(status);
  }
  void present_wrong_secret(bool wrong) {
    const std::lock_guard lock(mu_);
    present_wrong_secret_ = wrong;
  }
  void corrupt_orange_rpv() {
    const std::lock_guard lock(mu_);
    orange_->rpv.reveal_mutable()[0] ^= 0x01;
  }
  bool has_orange_key() {
    const std::lock_guard lock(mu_);
    return orange_.has_value();
  }
  std::uint64_t orange_rpk_serial() {
    const std::lock_guard lock(mu_);
    return orange_ ? orange_->rpk_serial : 0;
  }
  std::optional<crypto::Certificate> orange_certificate() {
    const std::lock_guard lock(mu_);
    return orange_ ? std::optional(orange_->certificate) : std::nullopt;
  }
  std::vector<ped::KeyType> created() {
    const std::lock_guard lock(mu_);
    return created_;
  }
  std::vector<ped::Op> ops() {
    const std::lock_guard lock(mu_);
    return ops_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, SecretBytes> keys_;  // by whose keys they are (the PED's context line)
  std::optional<OrangeKey> orange_;
  std::condition_variable typed_cv_;
  SecretBytes typed_password_;
  std::deque<ped::Status> failures_;
  std::vector<ped::KeyType> created_;
  std::vector<ped::Op> ops_;
  bool present_wrong_secret_ = false;
  bool reuse_ = false;
};

// ---------------------------------------------------------------------------

class FakePedclient final : public pedclient::HsmRequestHandler {
 public:
  FakePedclient(FakePed& ped, crypto::Certificate manufacturer_root)
      : ped_(ped), root_(std::move(manufacturer_root)), worker_([this] { work(); }) {}

  ~FakePedclient() override {
    detach();
    {
      const std::lock_guard lock(task_mu_);
      quit_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  void attach(const std::filesystem::path& socket) {
    backend_ = must(pedclient::make_socket_hsm_backend(socket, *this));
  }
  // pedclient stops: after the work in hand, the backend link is closed.
  void detach() {
    std::promise<void> done;
    post([&] {
      backend_.reset();  // joins the backend's reader thread
      const std::lock_guard lock(mu_);
      link_.reset();
      done.set_value();
    });
    done.get_future().wait();
  }
  pedclient::HsmBackend& backend() { return *backend_; }

  // Knobs.
  std::atomic<int> handshake_attempts{1};      // per connect_ped (a hammering host tries more)
  std::optional<hsm::Failure> refuse_connect;  // answer connect_ped with this
  std::atomic<bool> pass_rpk_certificate{
      true};  // give the HSM the RPK certificate the PED presented
  std::optional<crypto::Certificate> substitute_rpk_certificate;  // ... or this one instead
  std::atomic<bool> drop_link_on_next_ped_request{false};  // the PED is unplugged mid-operation
  std::atomic<int> hsm_lost_calls{0};

  bool connected() {
    const std::lock_guard lock(mu_);
    return link_ != nullptr;
  }
  std::vector<hsm::Failure> derive_failures() {
    const std::lock_guard lock(mu_);
    return derive_failures_;
  }

  // HsmRequestHandler: never block the backend's thread; the work is posted.
  void on_connect_ped(std::uint32_t id, hsm::ConnectPedRequest request) override {
    post([this, id, request] { connect(id, request); });
  }
  void on_disconnect_ped(std::uint32_t id) override {
    post([this, id] {
      if (!backend_) {
        return;
      }
      {
        const std::lock_guard lock(mu_);
        link_.reset();
      }
      static_cast<void>(backend_->complete_disconnect_ped(id));
    });
  }
  void on_ped_request(std::uint32_t id, hsm::PedRequest request) override {
    auto shared = std::make_shared<hsm::PedRequest>(std::move(request));
    post([this, id, shared] { relay(id, *shared); });
  }
  // pedclient's audit side, in memory: records kept in order, duplicates
  // skipped, each batch acknowledged at once (unless ack_audit is off: a full disk).
  void on_audit_records(std::uint32_t id, hsm::AuditRecords records) override {
    auto shared = std::make_shared<hsm::AuditRecords>(std::move(records));
    post([this, id, shared] {
      std::uint64_t durable = 0;
      {
        const std::lock_guard lock(mu_);
        if (ack_audit) {
          for (std::size_t i = 0; i < shared->records.size(); ++i) {
            if (shared->first_seq + i == audit_last_seq_ + 1) {
              const auto& line = shared->records[i];
              audit_lines_.emplace_back(line.data(), line.size());
              ++audit_last_seq_;
            }
          }
        }
        durable = audit_last_seq_;
        ++audit_batches_;
      }
      if (backend_) {
        static_cast<void>(backend_->complete_audit_records(id, durable));
      }
    });
  }
  std::atomic<bool> ack_audit{true};
  std::vector<std::string> audit_lines() {
    const std::lock_guard lock(mu_);
    return audit_lines_;
  }
  int audit_batches() {
    const std::lock_guard lock(mu_);
    return audit_batches_;
  }
  // Tells the HSM what this pedclient holds, which starts the stream.
  Result<hsm::AuditResumeResponse> resume_audit() {
    hsm::AuditResumeRequest request;
    {
      const std::lock_guard lock(mu_);
      request.last_seq = audit_last_seq_;
    }
    return backend_->audit_resume(request);
  }
  void on_hsm_lost(const Error&) override { ++hsm_lost_calls; }

 private:
  void post(std::function<void()> task) {
    {
      const std::lock_guard lock(task_mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_all();
  }

  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(task_mu_);
        cv_.wait(lock, [&] { return quit_ || !tasks_.empty(); });
        if (tasks_.empty()) {
          return;
        }
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  // One handshake; the established link, or the alert that ended it.
  std::variant<std::unique_ptr<rped::test::ChannelLink>, channel::AlertCode> handshake(
      const pedclient::HsmIdentity& identity, channel::Scheme scheme) {
    channel::HsmEndpointConfig hsm_config;
    hsm_config.scheme = scheme;
    hsm_config.hsm_serial = identity.serial;
    hsm_config.certificate_chain = identity.certificate_chain;
    auto link = std::make_unique<rped::test::ChannelLink>(world_, std::move(hsm_config),
                                                          ped_.endpoint_config(scheme, root_));
    auto presented = std::make_shared<std::optional<crypto::Certificate>>();
    // What the PED side presents in PedKeyShare: pedclient hands it to the HSM
    // with the key request, so the HSM checks the RPK certificate itself.
    link->ped_to_hsm = [presented](Bytes& chunk) {
      for (const Bytes& f : rped::test::split_frames(chunk)) {
        if (f.size() > channel::kFrameHeaderBytes &&
            f[1] == static_cast<std::uint8_t>(channel::MessageType::ped_key_share)) {
          auto share = channel::PedKeyShare::parse(ByteView(f).subspan(channel::kFrameHeaderBytes));
          if (share.ok() && !share->rpk_certificate.empty()) {
            *presented = must(crypto::Certificate::from_der(share->rpk_certificate));
          }
        }
      }
    };
    link->hsm_device = [this,
                        presented](const channel::KeyDerivationRequest& r) -> Result<SecretBytes> {
      const crypto::Certificate* cert = nullptr;
      if (substitute_rpk_certificate) {
        cert = &*substitute_rpk_certificate;
      } else if (pass_rpk_certificate && presented->has_value()) {
        cert = &presented->value();
      }
      auto dkm = backend_->derive_session_keys(r, cert);
      if (!dkm.ok()) {
        const std::lock_guard lock(mu_);
        derive_failures_.push_back(
            hsm::Failure{hsm::Status::internal, std::nullopt, dkm.error().message});
      }
      return dkm;
    };
    link->ped_device = [this](const channel::KeyDerivationRequest& r) { return ped_.derive(r); };
    link->rpk_source = []() -> Result<channel::RpkInfo> {
      return make_error(Errc::invalid_argument, "the PED config carries the RPK");
    };
    link->run();
    if (link->hsm.state() == channel::State::established &&
        link->ped.state() == channel::State::established) {
      return link;
    }
    const auto closed = rped::test::ChannelLink::closed(link->hsm_events);
    return closed ? closed->code : channel::AlertCode::internal_error;
  }

  void connect(std::uint32_t id, const hsm::ConnectPedRequest& request) {
    if (!backend_) {
      return;
    }
    if (refuse_connect) {
      static_cast<void>(backend_->refuse(hsm::MessageType::connect_ped, id, *refuse_connect));
      return;
    }
    auto identity = backend_->identity();
    if (!identity.ok()) {
      static_cast<void>(backend_->refuse(
          hsm::MessageType::connect_ped, id,
          hsm::Failure{hsm::Status::internal, std::nullopt, identity.error().message}));
      return;
    }
    channel::AlertCode last = channel::AlertCode::internal_error;
    for (int attempt = 0; attempt < handshake_attempts; ++attempt) {
      auto outcome = handshake(identity.value(), request.scheme);
      if (auto* link = std::get_if<std::unique_ptr<rped::test::ChannelLink>>(&outcome)) {
        const std::uint64_t rpk_serial =
            request.scheme == channel::Scheme::full_unified ? ped_.orange_rpk_serial() : 0;
        {
          const std::lock_guard lock(mu_);
          link_ = std::move(*link);
        }
        const std::string where = request.host + ":" + std::to_string(request.port);
        hsm::PedConnectionState state;
        state.connected = true;
        state.scheme = request.scheme;
        state.pedserver = where;
        state.rpk_serial = rpk_serial;
        static_cast<void>(backend_->report_ped_connection(state));
        hsm::ConnectPedResponse response;
        response.rpk_serial = rpk_serial;
        response.pedserver = where;
        static_cast<void>(backend_->complete_connect_ped(id, response));
        return;
      }
      last = std::get<channel::AlertCode>(outcome);
    }
    static_cast<void>(
        backend_->refuse(hsm::MessageType::connect_ped, id,
                         hsm::Failure{hsm::Status::handshake_failed, last, "handshake failed"}));
  }

  static std::vector<Bytes> data_since(const std::vector<channel::Event>& events,
                                       std::size_t first) {
    std::vector<Bytes> out;
    for (std::size_t i = first; i < events.size(); ++i) {
      if (const auto* d = std::get_if<channel::DataEvent>(&events[i])) {
        out.push_back(d->payload);
      }
    }
    return out;
  }

  // A PED operation through the channel: device form -> channel form -> PED -> back.
  void relay(std::uint32_t id, const hsm::PedRequest& request) {
    if (!backend_) {
      return;
    }
    const std::lock_guard lock(mu_);
    if (!link_) {
      static_cast<void>(backend_->refuse(
          hsm::MessageType::ped_request, id,
          hsm::Failure{hsm::Status::no_ped_connection, std::nullopt, "not connected"}));
      return;
    }
    if (drop_link_on_next_ped_request.exchange(false)) {
      link_.reset();
      hsm::PedConnectionState state;
      state.connected = false;
      state.reason = channel::AlertCode::ped_unplugged;
      state.detail = "PED unplugged";
      static_cast<void>(backend_->refuse(
          hsm::MessageType::ped_request, id,
          hsm::Failure{hsm::Status::connection_lost, channel::AlertCode::ped_unplugged,
                       "the PED was unplugged"}));
      static_cast<void>(backend_->report_ped_connection(state));
      return;
    }
    rped::test::ChannelLink& link = *link_;
    const auto hsm_wrap = [&](ByteView csp) { return link.hsm.wrap_csp(csp); };
    const auto hsm_unwrap = [&](ByteView w) { return link.hsm.unwrap_csp(w); };
    const auto ped_wrap = [&](ByteView csp) { return link.ped.wrap_csp(csp); };
    const auto ped_unwrap = [&](ByteView w) { return link.ped.unwrap_csp(w); };

    const ped::DeviceFrame command = must(ped::DeviceFrame::parse(request.device_frame.reveal()));
    const Bytes to_ped = must(ped::to_channel_form(command, hsm_wrap));
    const std::size_t ped_seen = link.ped_events.size();
    link.pump(must(link.hsm.send(to_ped)), {});
    const auto at_ped = data_since(link.ped_events, ped_seen);
    EXPECT_EQ(at_ped.size(), 1u);
    const ped::DeviceFrame device_command = must(ped::from_channel_form(at_ped.at(0), ped_unwrap));
    const Bytes device_response = ped_.handle(device_command);
    const Bytes to_hsm =
        must(ped::to_channel_form(must(ped::DeviceFrame::parse(device_response)), ped_wrap));
    const std::size_t hsm_seen = link.hsm_events.size();
    link.pump({}, must(link.ped.send(to_hsm)));
    const auto at_hsm = data_since(link.hsm_events, hsm_seen);
    EXPECT_EQ(at_hsm.size(), 1u);
    const ped::DeviceFrame response = must(ped::from_channel_form(at_hsm.at(0), hsm_unwrap));
    hsm::PedResponse answer;
    answer.device_frame = SecretBytes::copy_of(response.serialize());
    static_cast<void>(backend_->complete_ped_request(id, answer));
  }

  FakePed& ped_;
  const crypto::Certificate root_;
  rped::test::ChannelWorld world_;  // only for ChannelLink's constructor; its devices are replaced
  std::unique_ptr<pedclient::HsmBackend> backend_;
  std::mutex mu_;       // link_, derive_failures_
  std::mutex task_mu_;  // tasks_, quit_
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool quit_ = false;
  std::unique_ptr<rped::test::ChannelLink> link_;
  std::vector<hsm::Failure> derive_failures_;
  std::vector<std::string> audit_lines_;
  std::uint64_t audit_last_seq_ = 0;
  int audit_batches_ = 0;
  std::thread worker_;
};

// ---------------------------------------------------------------------------

class TestConsole final : public Console {
 public:
  void line(std::string_view text) override {
    const std::lock_guard lock(mu_);
    lines_.emplace_back(text);
  }
  void secret_line(std::string_view prefix, const SecretBytes& secret,
                   std::string_view suffix) override {
    {
      const std::lock_guard lock(mu_);
      lines_.push_back(std::string(prefix) + "<secret>" + std::string(suffix));
      shown_secret_ = secret.clone();
    }
    if (on_secret) {
      on_secret(secret);
    }
  }
  std::optional<std::string> ask(std::string_view prompt) override {
    const std::lock_guard lock(mu_);
    lines_.emplace_back(prompt);
    if (answers_.empty()) {
      return std::nullopt;
    }
    std::string a = answers_.front();
    answers_.pop_front();
    return a;
  }

  void answer(std::string text) {
    const std::lock_guard lock(mu_);
    answers_.push_back(std::move(text));
  }
  std::string text() {
    const std::lock_guard lock(mu_);
    std::string all;
    for (const std::string& l : lines_) {
      all += l + "\n";
    }
    return all;
  }
  SecretBytes shown_secret() {
    const std::lock_guard lock(mu_);
    return shown_secret_.clone();
  }
  std::function<void(const SecretBytes&)> on_secret;

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
  std::deque<std::string> answers_;
  SecretBytes shown_secret_;
};

inline HsmTimings fast_timings() {
  HsmTimings t;
  t.ped_operation_timeout_ms = 5'000;
  t.connect_timeout_ms = 5'000;
  t.margin = std::chrono::milliseconds(2'000);
  t.disconnect_timeout = std::chrono::milliseconds(2'000);
  return t;
}

// An emulated HSM with its backend socket, and pedclient attached to it.
struct HsmBench {
  explicit HsmBench(std::uint64_t serial = 1234567, HsmTimings timings = fast_timings()) {
    start(serial, timings);
  }
  ~HsmBench() { stop(); }

  void start(std::uint64_t serial, HsmTimings timings) {
    ManufacturingOptions options;
    options.serial = serial;
    hsm = must(Hsm::create(must(StateDirectory::open(dir.path() / "state", options)), timings,
                           [](std::string_view) {}));
    backend =
        must(BackendServer::start(dir.path() / "backend.sock", *hsm, [](std::string_view) {}));
    root = must(crypto::Certificate::from_der(hsm->snapshot().manufacturing.root_certificate));
    pedclient = std::make_unique<FakePedclient>(ped, root);
    pedclient->attach(dir.path() / "backend.sock");
    wait_attached();
  }
  void stop() {
    pedclient.reset();
    if (backend) {
      backend->stop();
    }
    backend.reset();
    hsm.reset();
  }
  // Restarts the emulator on the same state directory (a power cycle).
  void restart(std::uint64_t serial = 1234567) {
    stop();
    start(serial, fast_timings());
  }
  void wait_attached() {
    for (int i = 0; i < 500 && !backend->attached(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // The HSM learns of the attach on its I/O thread; a first call proves it is served.
    static_cast<void>(pedclient->backend().identity());
  }

  CommandResult run(const std::string& line) {
    const std::vector<std::string> words = split_command_line(line);
    return run_command(*hsm, words, console);
  }
  // ped connect -password, with the custodian typing what the HSM shows.
  CommandResult connect_with_password(const std::string& address = "-ip 127.0.0.1 -port 1503") {
    console.on_secret = [this](const SecretBytes& s) { ped.type_password(s); };
    CommandResult r = run("ped connect " + address + " -password");
    console.on_secret = nullptr;
    return r;
  }
  // The remote RPV initialization and the first Full Unified connection.
  void initialize_rpv_and_connect() {
    ASSERT_TRUE(connect_with_password().ok()) << console.text();
    const CommandResult init = run("ped vector init");
    ASSERT_TRUE(init.ok()) << init.message << "\n" << console.text();
    const CommandResult fu = run("ped connect -ip 127.0.0.1 -port 1503");
    ASSERT_TRUE(fu.ok()) << fu.message << "\n" << console.text();
  }

  TempDir dir;
  FakePed ped;
  TestConsole console;
  std::unique_ptr<Hsm> hsm;
  std::unique_ptr<BackendServer> backend;
  crypto::Certificate root{nullptr};
  std::unique_ptr<FakePedclient> pedclient;
};

}  // namespace rped::hsmsim::test

namespace rped::hsmsim {
inline void PrintTo(ResultCode code, std::ostream* os) {
  *os << result_name(code);
}
}  // namespace rped::hsmsim
