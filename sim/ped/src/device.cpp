// PedDevice: the emulated PED's "hardware" and its two threads.
//
//   firmware thread  runs one activity at a time: a host command's flow, a
//                    mode change, or a keypad action in the idle menu. Flows
//                    block in next_keypress(), which wakes on custodian
//                    events, host cancel, unplug, shutdown or the timeout.
//   host link thread sends queued frames to the host's FrameSink in order,
//                    never holding the lock, and drops frames queued for a
//                    host that has since been unplugged.
//
// Custodian events (keypresses, key insertions and removals) go through one
// queue, so the firmware sees them in the order they happened however fast a
// script produces them; physical_key_ is the port now, firmware_key_ the port
// as of the events consumed so far.
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>

#include "flow.h"
#include "flows.h"
#include "rped/pedsim/constants.h"
#include "rped/pedsim/device.h"
#include "rped/pedsim/key_store.h"
#include "screens.h"

namespace rped::pedsim {

namespace {

using Clock = std::chrono::steady_clock;

enum class Activity : std::uint8_t { none, command, local };
enum class Interrupt : std::uint8_t { none, host_cancel, unplugged, shutdown };

struct CustodianEvent {
  enum class Kind : std::uint8_t { press, insert, remove };
  Kind kind = Kind::press;
  Keypad key = Keypad::enter;
  std::optional<KeySlot> slot;  // insert
};

struct PendingCommand {
  ped::Op op = ped::Op::identify;
  std::uint32_t request_id = 0;
  SecretBytes body;  // create_* requests carry secrets
  std::uint64_t host_generation = 0;
};

struct OutgoingFrame {
  std::uint64_t host_generation = 0;
  SecretBytes bytes;  // responses may carry secrets
};

struct RemoteSession {
  bool active = false;
  std::string peer;
};

std::string_view interrupt_reason(Interrupt interrupt) {
  switch (interrupt) {
    case Interrupt::host_cancel:
      return "the host cancelled the operation";
    case Interrupt::unplugged:
      return "the PED was unplugged";
    case Interrupt::shutdown:
      return "the PED is shutting down";
    case Interrupt::none:
    default:
      return "interrupted";
  }
}

// For the 21-column log screen.
std::string_view short_mode_name(ped::Mode mode) {
  switch (mode) {
    case ped::Mode::local:
      return "Local";
    case ped::Mode::admin:
      return "Admin";
    case ped::Mode::remote:
      return "Remote";
    default:
      return "?";
  }
}

std::string clock_time() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[16];
  std::strftime(text, sizeof text, "%H:%M:%S", &local);
  return text;
}

// A response body whose payload may hold secrets: the payload copy is wiped.
template <typename Response>
Bytes ok_body(const Response& response) {
  Bytes payload = response.serialize();
  Bytes body = ped::ok_response(payload);
  secure_wipe(payload.data(), payload.size());
  return body;
}

Bytes error_body(const FlowFailure& failure) {
  return ped::error_response(failure.status, failure.message);
}

class PedDeviceImpl final : public PedDevice, private FirmwarePort {
 public:
  PedDeviceImpl(PedDeviceOptions options, KeyDirectory keys)
      : options_(std::move(options)),
        keys_(std::move(keys)),
        mode_(options_.initial_mode),
        lcd_(compose(screens::idle(mode_, false, {}))) {
    history_.emplace_back(display_sequence_, lcd_);
  }

  ~PedDeviceImpl() override {
    {
      const std::lock_guard lock(mu_);
      stopping_ = true;
      interrupt_ = Interrupt::shutdown;
    }
    firmware_cv_.notify_all();
    link_cv_.notify_all();
    if (firmware_thread_.joinable()) {
      firmware_thread_.join();
    }
    if (link_thread_.joinable()) {
      link_thread_.join();
    }
  }

  PedDeviceImpl(const PedDeviceImpl&) = delete;
  PedDeviceImpl& operator=(const PedDeviceImpl&) = delete;

  void start() {
    link_thread_ = std::thread([this] { host_link_main(); });
    firmware_thread_ = std::thread([this] { firmware_main(); });
  }

  // -------------------------------------------------------------------------
  // Host link

  void attach_host(FrameSink sink) override {
    std::unique_lock lock(mu_);
    unplug_locked(lock);  // a new host on the port is a replug
    host_sink_ = std::move(sink);
    ++host_generation_;
  }

  void detach_host() override {
    std::unique_lock lock(mu_);
    unplug_locked(lock);
  }

  void on_host_frame(ByteView bytes) override {
    auto frame = ped::DeviceFrame::parse(bytes);
    if (!frame.ok()) {
      return;  // without a parseable header there is no request id to answer
    }
    SecretBytes body = SecretBytes::copy_of(frame->body);
    secure_wipe(frame->body.data(), frame->body.size());
    if (frame->kind != ped::FrameKind::command) {
      return;  // the host sends commands only
    }
    const std::lock_guard lock(mu_);
    if (!host_sink_) {
      return;
    }
    if (frame->op == ped::Op::cancel) {
      cancel_locked(frame->request_id, body);
      return;
    }
    if (activity_ != Activity::none || pending_command_) {
      post_locked(ped::FrameKind::response, frame->op, frame->request_id,
                  ped::error_response(ped::Status::busy, "the PED is running another operation"));
      return;
    }
    pending_command_ =
        PendingCommand{frame->op, frame->request_id, std::move(body), host_generation_};
    firmware_cv_.notify_all();
  }

  // -------------------------------------------------------------------------
  // The custodian

  void press(Keypad key) override {
    push_custodian_event(CustodianEvent{CustodianEvent::Kind::press, key, {}});
  }

  Result<void> insert_key(const std::string& name) override {
    RPED_TRY(KeyDirectory::check_key_name(name));
    if (!keys_.contains(name)) {
      return make_error(Errc::invalid_argument, "there is no PED key \"" + name + "\" (" +
                                                    keys_.file_of(name).string() + ")");
    }
    const std::lock_guard lock(mu_);
    if (physical_key_) {
      return make_error(Errc::invalid_argument,
                        "PED key \"" + physical_key_->name + "\" is in the port; remove it first");
    }
    physical_key_ = KeySlot{name, ++insertions_};
    custodian_events_.push_back(
        CustodianEvent{CustodianEvent::Kind::insert, Keypad::enter, physical_key_});
    firmware_cv_.notify_all();
    return {};
  }

  void remove_key() override {
    const std::lock_guard lock(mu_);
    if (!physical_key_) {
      return;
    }
    physical_key_.reset();
    custodian_events_.push_back(CustodianEvent{CustodianEvent::Kind::remove, Keypad::enter, {}});
    firmware_cv_.notify_all();
  }

  void select_mode(ped::Mode mode) override {
    const std::lock_guard lock(mu_);
    mode_requests_.push_back(mode);
    firmware_cv_.notify_all();
  }

  Screen lcd() const override {
    const std::lock_guard lock(mu_);
    return lcd_;
  }

  void on_display(DisplaySink sink) override {
    const std::lock_guard lock(mu_);
    display_sink_ = std::move(sink);
  }

  ped::Mode mode() const override {
    const std::lock_guard lock(mu_);
    return mode_;
  }

  std::uint64_t display_sequence() const override {
    const std::lock_guard lock(mu_);
    return display_sequence_;
  }

  std::optional<std::uint64_t> wait_for_screen(std::uint64_t from, const ScreenMatcher& matches,
                                               std::chrono::milliseconds timeout) const override {
    std::unique_lock lock(mu_);
    const auto deadline = Clock::now() + timeout;
    std::uint64_t scanned = 0;  // screens up to this number were looked at already
    for (;;) {
      for (const auto& [sequence, screen] : history_) {
        if (sequence >= from && sequence > scanned && matches(screen)) {
          return sequence;
        }
      }
      scanned = display_sequence_;
      if (!display_cv_.wait_until(lock, deadline, [&] { return display_sequence_ > scanned; })) {
        return std::nullopt;
      }
    }
  }

 private:
  // -------------------------------------------------------------------------
  // FirmwarePort (firmware thread)

  void show(const Screen& screen) override {
    DisplaySink sink;
    {
      const std::lock_guard lock(mu_);
      if (screen == lcd_) {
        return;
      }
      lcd_ = screen;
      history_.emplace_back(++display_sequence_, screen);
      while (history_.size() > kDisplayHistory) {
        history_.pop_front();
      }
      display_cv_.notify_all();
      if (host_sink_) {
        ped::DisplayEvent event;
        event.lines = screen;
        post_locked(ped::FrameKind::event, ped::Op::display, 0, event.serialize());
      }
      sink = display_sink_;
    }
    if (sink) {
      sink(screen);
    }
  }

  FlowResult<Keypad> next_keypress(Clock::time_point deadline,
                                   const std::optional<KeySlot>& held) override {
    std::unique_lock lock(mu_);
    for (;;) {
      if (interrupt_ != Interrupt::none) {
        return flow_failure(ped::Status::cancelled, std::string(interrupt_reason(interrupt_)));
      }
      while (!custodian_events_.empty()) {
        const CustodianEvent event = take_custodian_event_locked();
        if (held && !(firmware_key_ && firmware_key_->insertion == held->insertion)) {
          return flow_failure(ped::Status::key_removed,
                              "the PED key was removed during the operation");
        }
        if (event.kind == CustodianEvent::Kind::press) {
          return event.key;
        }
      }
      if (firmware_cv_.wait_until(lock, deadline) == std::cv_status::timeout &&
          interrupt_ == Interrupt::none && custodian_events_.empty()) {
        return flow_failure(ped::Status::timeout, "the operation timed out");
      }
    }
  }

  std::optional<KeySlot> inserted_key() const override {
    const std::lock_guard lock(mu_);
    return firmware_key_;
  }

  bool still_inserted(const KeySlot& slot) const override {
    const std::lock_guard lock(mu_);
    return physical_key_ && physical_key_->insertion == slot.insertion;
  }

  const KeyDirectory& key_directory() const override { return keys_; }

  std::string remote_peer() const override {
    const std::lock_guard lock(mu_);
    return remote_session_.active ? remote_session_.peer : std::string();
  }

  // -------------------------------------------------------------------------
  // Firmware thread

  void firmware_main() {
    show_idle();
    std::unique_lock lock(mu_);
    for (;;) {
      firmware_cv_.wait(lock, [&] {
        return stopping_ || pending_command_ || !mode_requests_.empty() ||
               !custodian_events_.empty() || idle_stale_;
      });
      if (stopping_) {
        return;
      }
      if (pending_command_) {
        PendingCommand command = std::move(*pending_command_);
        pending_command_.reset();
        begin_activity_locked(Activity::command);
        lock.unlock();
        Bytes response = run_command(command);
        lock.lock();
        // A response to a host that was unplugged meanwhile is dropped.
        if (command.host_generation == host_generation_) {
          post_locked(ped::FrameKind::response, command.op, command.request_id, response);
        }
        secure_wipe(response.data(), response.size());
        end_activity_locked();
        continue;
      }
      if (!mode_requests_.empty()) {
        const ped::Mode target = mode_requests_.front();
        mode_requests_.pop_front();
        begin_activity_locked(Activity::local);
        lock.unlock();
        change_mode(target);
        lock.lock();
        end_activity_locked();
        continue;
      }
      if (!custodian_events_.empty()) {
        const CustodianEvent event = take_custodian_event_locked();
        if (event.kind == CustodianEvent::Kind::press) {
          begin_activity_locked(Activity::local);
          lock.unlock();
          idle_keypress(event.key);
          lock.lock();
          end_activity_locked();
        }
        continue;
      }
      idle_stale_ = false;
      lock.unlock();
      show_idle();
      lock.lock();
    }
  }

  void begin_activity_locked(Activity activity) {
    activity_ = activity;
    interrupt_ = stopping_ ? Interrupt::shutdown : Interrupt::none;
  }

  void end_activity_locked() {
    activity_ = Activity::none;
    idle_stale_ = true;
  }

  Bytes run_command(const PendingCommand& command) {
    const ByteView body = command.body.reveal();
    // identify, get_status and self_test work in every mode.
    switch (command.op) {
      case ped::Op::identify: {
        if (!body.empty()) {
          return ped::error_response(ped::Status::bad_request, "identify has no body");
        }
        ped::IdentifyResponse response;
        response.firmware_version = options_.firmware_version;
        response.serial = options_.serial;
        response.model = options_.model;
        response.mode = mode();
        return ok_body(response);
      }
      case ped::Op::get_status: {
        if (!body.empty()) {
          return ped::error_response(ped::Status::bad_request, "get_status has no body");
        }
        return ok_body(status());
      }
      case ped::Op::self_test: {
        if (!body.empty()) {
          return ped::error_response(ped::Status::bad_request, "self_test has no body");
        }
        Flow flow(*this, kLocalFlowTimeout);
        const ped::SelfTestResponse response = self_test_flow(flow);
        log_event("self test " + std::string(response.passed ? "ok" : "FAILED"));
        return ok_body(response);
      }
      default:
        break;
    }
    if (const ped::Mode now = mode(); now != ped::Mode::remote) {
      return ped::error_response(ped::Status::not_in_remote_mode,
                                 "the PED is in " + std::string(ped::mode_name(now)) +
                                     " mode; the custodian selects Remote PED (menu 7)");
    }
    switch (command.op) {
      case ped::Op::set_remote_session:
        return set_remote_session(body);
      case ped::Op::read_secret:
        return run_flow<ped::ReadSecretRequest>(command.op, body, read_secret_flow);
      case ped::Op::create_keyset:
        return run_flow<ped::CreateKeysetRequest>(command.op, body, create_keyset_flow);
      case ped::Op::read_rpk_info:
        return run_flow<ped::ReadRpkInfoRequest>(command.op, body, read_rpk_info_flow);
      case ped::Op::derive_session_keys:
        return run_flow<ped::DeriveSessionKeysRequest>(command.op, body, derive_session_keys_flow);
      case ped::Op::create_rpk_keyset:
        return run_flow<ped::CreateRpkKeysetRequest>(command.op, body, create_rpk_keyset_flow);
      case ped::Op::confirm_identity:
        return run_flow<ped::ConfirmIdentityRequest>(command.op, body, confirm_identity_flow);
      default:
        return ped::error_response(ped::Status::bad_request, std::string(ped::op_name(command.op)) +
                                                                 " is not a command this PED runs");
    }
  }

  template <typename Request, typename FlowFunction>
  Bytes run_flow(ped::Op op, ByteView body, FlowFunction flow_function) {
    auto request = Request::parse(body);
    if (!request.ok()) {
      return ped::error_response(ped::Status::bad_request, request.error().message);
    }
    Flow flow(*this, std::chrono::milliseconds(request->timeout_ms));
    auto outcome = flow_function(flow, request.value());
    if (!outcome.ok()) {
      log_event(std::string(ped::op_name(op)) + " " +
                std::string(ped::status_name(outcome.failure().status)));
      return error_body(outcome.failure());
    }
    log_event(std::string(ped::op_name(op)) + " ok");
    return ok_body(outcome.value());
  }

  Bytes set_remote_session(ByteView body) {
    auto request = ped::SetRemoteSessionRequest::parse(body);
    if (!request.ok()) {
      return ped::error_response(ped::Status::bad_request, request.error().message);
    }
    {
      const std::lock_guard lock(mu_);
      remote_session_ =
          RemoteSession{request->active, request->active ? request->peer : std::string()};
    }
    log_event(request->active ? "session " + request->peer : "session ended");
    return ped::ok_response({});
  }

  ped::StatusResponse status() {
    std::optional<KeySlot> key;
    ped::StatusResponse response;
    {
      const std::lock_guard lock(mu_);
      response.mode = mode_;
      response.remote_session = remote_session_.active;
      key = physical_key_;
    }
    response.key_inserted = key.has_value();
    if (key) {
      if (auto record = keys_.load(key->name); record.ok()) {
        response.inserted_key = record->type;
      }
    }
    return response;
  }

  // Mode changes: leaving Remote PED mode needs the custodian's YES and ends the remote session.
  void change_mode(ped::Mode target) {
    const ped::Mode current = mode();
    if (current == target) {
      return;
    }
    if (current == ped::Mode::remote) {
      Flow flow(*this, kLocalFlowTimeout);
      auto confirmed = confirm_exit_remote_flow(flow);
      if (!confirmed.ok() || !confirmed.value()) {
        log_event("exit cancelled");
        return;
      }
      const std::lock_guard lock(mu_);
      remote_session_ = RemoteSession{};
      if (host_sink_) {
        post_locked(ped::FrameKind::event, ped::Op::remote_mode_exited, 0, {});
      }
    }
    {
      const std::lock_guard lock(mu_);
      mode_ = target;
      if (host_sink_) {
        post_locked(ped::FrameKind::event, ped::Op::mode_changed, 0,
                    ped::ModeChangedEvent{target}.serialize());
      }
    }
    log_event("mode " + std::string(short_mode_name(target)));
  }

  // The idle menus (screens::idle shows them).
  void idle_keypress(Keypad key) {
    Flow flow(*this, kLocalFlowTimeout);
    if (key == Keypad::log) {
      (void)log_flow(flow, log_snapshot());
      return;
    }
    switch (mode()) {
      case ped::Mode::local:
        if (key == Keypad::d1) {
          change_mode(ped::Mode::admin);
        } else if (key == Keypad::d7) {
          change_mode(ped::Mode::remote);
        }
        return;
      case ped::Mode::admin:
        if (key == Keypad::d1) {
          (void)list_types_flow(flow);
        } else if (key == Keypad::d2) {
          const auto duplicated = duplicate_key_flow(flow);
          log_event(duplicated.ok()
                        ? "duplicate ok"
                        : "duplicate " +
                              std::string(ped::status_name(duplicated.failure().status)));
        } else if (key == Keypad::d3) {
          (void)admin_self_test_flow(flow);
        } else if (key == Keypad::back) {
          change_mode(ped::Mode::local);
        }
        return;
      case ped::Mode::remote:
        if (key == Keypad::back) {
          change_mode(ped::Mode::local);
        }
        return;
      default:
        return;
    }
  }

  void show_idle() {
    ped::Mode mode_now;
    RemoteSession session;
    {
      const std::lock_guard lock(mu_);
      mode_now = mode_;
      session = remote_session_;
    }
    show(compose(screens::idle(mode_now, session.active, session.peer)));
  }

  void log_event(std::string text) {
    const std::lock_guard lock(mu_);
    log_.push_back(clock_time() + " " + std::move(text));
    while (log_.size() > kLogEntries) {
      log_.pop_front();
    }
  }

  std::deque<std::string> log_snapshot() const {
    const std::lock_guard lock(mu_);
    return log_;
  }

  // -------------------------------------------------------------------------
  // Host link thread

  void host_link_main() {
    std::unique_lock lock(mu_);
    for (;;) {
      link_cv_.wait(lock, [&] { return stopping_ || !outbox_.empty(); });
      if (stopping_) {
        return;
      }
      OutgoingFrame frame = std::move(outbox_.front());
      outbox_.pop_front();
      if (frame.host_generation != host_generation_ || !host_sink_) {
        continue;
      }
      const FrameSink sink = host_sink_;
      sending_ = true;
      lock.unlock();
      const ByteView bytes = frame.bytes.reveal();
      sink(Bytes(bytes.begin(), bytes.end()));
      lock.lock();
      sending_ = false;
      link_cv_.notify_all();
    }
  }

  // -------------------------------------------------------------------------
  // With mu_ held

  void post_locked(ped::FrameKind kind, ped::Op op, std::uint32_t request_id, ByteView body) {
    // A host that stops reading loses display events, never responses or other events.
    if (op == ped::Op::display && outbox_.size() >= kMaxQueuedFrames) {
      return;
    }
    ped::DeviceFrame frame{kind, op, request_id, Bytes(body.begin(), body.end())};
    Bytes bytes = frame.serialize();
    outbox_.push_back(OutgoingFrame{host_generation_, SecretBytes::copy_of(bytes)});
    secure_wipe(frame.body.data(), frame.body.size());
    secure_wipe(bytes.data(), bytes.size());
    link_cv_.notify_all();
  }

  void cancel_locked(std::uint32_t request_id, const SecretBytes& body) {
    if (!body.empty()) {
      post_locked(ped::FrameKind::response, ped::Op::cancel, request_id,
                  ped::error_response(ped::Status::bad_request, "cancel has no body"));
      return;
    }
    if (pending_command_) {
      post_locked(ped::FrameKind::response, pending_command_->op, pending_command_->request_id,
                  ped::error_response(ped::Status::cancelled, "the host cancelled the operation"));
      pending_command_.reset();
    }
    if (activity_ == Activity::command) {
      interrupt_ = Interrupt::host_cancel;
      firmware_cv_.notify_all();
    }
    post_locked(ped::FrameKind::response, ped::Op::cancel, request_id, ped::ok_response({}));
  }

  // USB power is gone: whatever runs ends, its response is dropped, and the
  // PED starts again in its initial mode. Keys stay in the port.
  void unplug_locked(std::unique_lock<std::mutex>& lock) {
    if (!host_sink_) {
      return;
    }
    host_sink_ = nullptr;
    ++host_generation_;
    outbox_.clear();
    if (activity_ != Activity::none) {
      interrupt_ = Interrupt::unplugged;
    }
    pending_command_.reset();
    custodian_events_.clear();
    mode_requests_.clear();
    firmware_key_ = physical_key_;
    mode_ = options_.initial_mode;
    remote_session_ = RemoteSession{};
    idle_stale_ = true;
    firmware_cv_.notify_all();
    // The old sink may be in use right now; the caller may free what it
    // captured once we return (unless the call comes from inside the sink).
    if (std::this_thread::get_id() != link_thread_.get_id()) {
      link_cv_.wait(lock, [&] { return !sending_; });
    }
  }

  void push_custodian_event(CustodianEvent event) {
    const std::lock_guard lock(mu_);
    custodian_events_.push_back(std::move(event));
    firmware_cv_.notify_all();
  }

  CustodianEvent take_custodian_event_locked() {
    CustodianEvent event = std::move(custodian_events_.front());
    custodian_events_.pop_front();
    if (event.kind == CustodianEvent::Kind::insert) {
      firmware_key_ = event.slot;
    } else if (event.kind == CustodianEvent::Kind::remove) {
      firmware_key_.reset();
    }
    return event;
  }

  const PedDeviceOptions options_;
  const KeyDirectory keys_;

  mutable std::mutex mu_;
  std::condition_variable firmware_cv_;  // custodian events, commands, mode requests, interrupts
  std::condition_variable link_cv_;      // outbox, and the end of a sink call

  // Host link
  FrameSink host_sink_;
  std::uint64_t host_generation_ = 0;
  std::deque<OutgoingFrame> outbox_;
  bool sending_ = false;

  // Firmware state
  ped::Mode mode_;
  RemoteSession remote_session_;
  Activity activity_ = Activity::none;
  Interrupt interrupt_ = Interrupt::none;
  std::optional<PendingCommand> pending_command_;
  std::deque<ped::Mode> mode_requests_;
  bool idle_stale_ = false;
  bool stopping_ = false;

  // The custodian
  std::deque<CustodianEvent> custodian_events_;
  std::optional<KeySlot> physical_key_;
  std::optional<KeySlot> firmware_key_;
  std::uint64_t insertions_ = 0;

  // Display
  Screen lcd_;
  std::uint64_t display_sequence_ = 1;
  std::deque<std::pair<std::uint64_t, Screen>> history_;
  mutable std::condition_variable display_cv_;  // a new screen, for wait_for_screen
  DisplaySink display_sink_;
  std::deque<std::string> log_;

  std::thread link_thread_;
  std::thread firmware_thread_;
};

}  // namespace

Result<std::unique_ptr<PedDevice>> PedDevice::create(PedDeviceOptions options) {
  RPED_TRY_ASSIGN(KeyDirectory keys, KeyDirectory::open(options.key_directory));
  if (options.serial.empty() || options.serial.size() > ped::kMaxTextBytes) {
    return make_error(Errc::invalid_argument, "the PED serial is 1 to 256 characters");
  }
  auto device = std::make_unique<PedDeviceImpl>(std::move(options), std::move(keys));
  device->start();
  return std::unique_ptr<PedDevice>(std::move(device));
}

}  // namespace rped::pedsim
