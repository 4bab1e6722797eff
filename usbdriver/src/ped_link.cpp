#include "rped/usb/ped_link.h"

#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "frame_assembler.h"
#include "rped/usb/link_error.h"

namespace rped::usb {

using Clock = std::chrono::steady_clock;

namespace {

// One command awaiting its response.
struct PendingCall final {
  std::uint32_t id = 0;
  ped::Op op = ped::Op::identify;
  Clock::time_point deadline;
  std::chrono::milliseconds timeout{0};
  PedLink::Completion completion;             // call_async(); empty for call()
  bool wake_dispatcher = false;               // set at registration (wake_for)
  bool done = false;                          // call() only
  std::optional<Result<SecretBytes>> result;  // call() only
};

struct OutgoingFrame final {
  std::uint32_t id = 0;
  Bytes frame;
};

// One callback for the dispatcher thread.
struct Delivery final {
  enum class Kind : std::uint8_t { completion, event, disconnect } kind = Kind::completion;
  PedLink::Completion completion;
  std::optional<Result<SecretBytes>> result;
  ped::Op event = ped::Op::display;
  Bytes body;
  std::optional<Error> reason;
};

std::string op_hex(ped::Op op) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%04x", static_cast<unsigned>(op));
  return text;
}

std::string call_name(ped::Op op, std::uint32_t id) {
  return std::string(ped::op_name(op)) + " (request " + std::to_string(id) + ")";
}

}  // namespace

struct PedLink::Impl final {
  std::unique_ptr<PedTransport> transport;
  Handlers handlers;
  PedLinkOptions options;
  std::string description;

  mutable std::mutex mutex;
  // Held while a callback runs, on the dispatcher or (deliver_on_reader) the
  // reader: callbacks never overlap. Never taken with `mutex` held.
  std::mutex callback_mutex;
  std::condition_variable writer_wake;
  std::condition_variable dispatcher_wake;
  std::condition_variable call_done;
  std::map<std::uint32_t, std::shared_ptr<PendingCall>> calls;
  std::deque<OutgoingFrame> outgoing;
  std::deque<Delivery> deliveries;
  std::optional<Error> down;  // why the link stopped
  bool closed_by_user = false;
  bool stopping = false;
  std::uint32_t last_id = 0;
  // When the dispatcher waits, the deadline it waits for (max: none); min while
  // it is awake, and rescans every call before it waits again.
  Clock::time_point dispatcher_sleeps_until = Clock::time_point::min();

  std::thread reader;
  std::thread writer;
  std::thread dispatcher;

  // ---- registration -------------------------------------------------------

  std::uint32_t next_id_locked() {
    do {
      ++last_id;
    } while (last_id == 0 || calls.count(last_id) != 0);  // 0 is the events' id
    return last_id;
  }

  // Queues the frame and records the call; an error when the call cannot start.
  // The caller runs wake_for() once it has released the lock.
  Result<std::shared_ptr<PendingCall>> register_call_locked(ped::Op op, ByteView body,
                                                            std::chrono::milliseconds timeout,
                                                            Completion&& completion) {
    if (!ped::is_command(op)) {
      return make_error(Errc::invalid_argument, "op " + op_hex(op) + " (" +
                                                    std::string(ped::op_name(op)) +
                                                    ") is not a command the host may send");
    }
    if (body.size() > ped::kMaxDeviceFrameBytes - ped::kDeviceFrameHeaderBytes) {
      return make_error(Errc::invalid_length, "a command body holds at most " +
                                                  std::to_string(ped::kMaxDeviceFrameBytes -
                                                                 ped::kDeviceFrameHeaderBytes) +
                                                  " bytes; got " + std::to_string(body.size()));
    }
    if (down) {
      return *down;
    }
    if (calls.size() >= options.max_in_flight) {
      return link_error(LinkFailure::busy, std::to_string(calls.size()) +
                                               " calls already in flight on " + description);
    }
    const std::chrono::milliseconds bounded = std::clamp(
        timeout, std::chrono::milliseconds(0), std::chrono::milliseconds(kMaxCallTimeout));
    auto call = std::make_shared<PendingCall>();
    call->id = next_id_locked();
    call->op = op;
    call->timeout = bounded;
    call->deadline = Clock::now() + bounded;
    call->completion = std::move(completion);

    ped::DeviceFrame frame;
    frame.kind = ped::FrameKind::command;
    frame.op = op;
    frame.request_id = call->id;
    frame.body.assign(body.begin(), body.end());
    outgoing.push_back(OutgoingFrame{call->id, frame.serialize()});
    detail::wipe(frame.body);
    calls.emplace(call->id, call);
    // The dispatcher enforces the deadlines of async calls. It needs waking
    // only when this deadline comes before the one it already waits for:
    // otherwise it wakes up by then anyway and rescans every call (one wake-up
    // per timeout period under back-to-back commands, not one per command).
    call->wake_dispatcher = call->completion && call->deadline < dispatcher_sleeps_until;
    return call;
  }

  // After register_call_locked, with the lock released: a thread woken while
  // the lock is still held would only block again on it (one more context
  // switch per command).
  void wake_for(const PendingCall& call) {
    writer_wake.notify_one();
    if (call.wake_dispatcher) {
      dispatcher_wake.notify_one();
    }
  }

  // ---- completion ---------------------------------------------------------

  void finish_locked(const std::shared_ptr<PendingCall>& call, Result<SecretBytes> result) {
    if (call->completion) {
      Delivery d;
      d.kind = Delivery::Kind::completion;
      d.completion = std::move(call->completion);
      d.result.emplace(std::move(result));
      deliveries.push_back(std::move(d));
      dispatcher_wake.notify_all();
    } else {
      call->result.emplace(std::move(result));
      call->done = true;
      call_done.notify_all();
    }
  }

  void complete(std::uint32_t id, Result<SecretBytes> result) {
    const std::lock_guard lock(mutex);
    const auto found = calls.find(id);
    if (found == calls.end()) {
      return;  // timed out or failed already: a late response is dropped
    }
    const std::shared_ptr<PendingCall> call = found->second;
    calls.erase(found);
    finish_locked(call, std::move(result));
  }

  void fail_all_locked(const Error& reason) {
    auto pending = std::move(calls);
    calls.clear();
    for (auto& [id, call] : pending) {
      finish_locked(call, Result<SecretBytes>(Error(reason)));
    }
    for (OutgoingFrame& frame : outgoing) {
      detail::wipe(frame.frame);
    }
    outgoing.clear();
  }

  // The transport failed: everything pending fails with its error, once.
  void go_down(const Error& reason) {
    {
      const std::lock_guard lock(mutex);
      if (down) {
        return;
      }
      down = reason;
      fail_all_locked(reason);
      if (!closed_by_user) {
        Delivery d;
        d.kind = Delivery::Kind::disconnect;
        d.reason = reason;
        deliveries.push_back(std::move(d));
      }
      writer_wake.notify_all();
      dispatcher_wake.notify_all();
    }
    transport->close();  // wakes the other I/O thread
  }

  // ---- threads ------------------------------------------------------------

  void run_reader() {
    for (;;) {
      {
        const std::lock_guard lock(mutex);
        if (down || stopping) {
          return;
        }
      }
      auto received = transport->receive(options.read_timeout);
      if (!received.ok()) {
        if (is_timeout(received.error())) {
          continue;  // the PED was quiet; keep listening
        }
        go_down(received.error());
        return;
      }
      auto parsed = ped::DeviceFrame::parse(received.value());
      detail::wipe(received.value());
      if (!parsed.ok()) {
        go_down(link_error(LinkFailure::bad_frame, parsed.error().message));
        return;
      }
      ped::DeviceFrame& frame = parsed.value();
      switch (frame.kind) {
        case ped::FrameKind::response: {
          const ped::Op op = frame.op;
          SecretBytes body = SecretBytes::copy_of(frame.body);
          detail::wipe(frame.body);
          complete_response(frame.request_id, op, std::move(body));
          break;
        }
        case ped::FrameKind::event: {
          if (options.deliver_on_reader) {
            if (handlers.on_event) {
              const std::lock_guard callback(callback_mutex);
              handlers.on_event(frame.op, std::move(frame.body));
            }
            break;
          }
          const std::lock_guard lock(mutex);
          Delivery d;
          d.kind = Delivery::Kind::event;
          d.event = frame.op;
          d.body = std::move(frame.body);
          deliveries.push_back(std::move(d));
          dispatcher_wake.notify_all();
          break;
        }
        case ped::FrameKind::command:
        default:
          // The PED never sends commands; ignore one rather than drop the PED.
          detail::wipe(frame.body);
          break;
      }
    }
  }

  void complete_response(std::uint32_t id, ped::Op op, SecretBytes body) {
    Completion completion;
    std::optional<Result<SecretBytes>> result;
    {
      const std::lock_guard lock(mutex);
      const auto found = calls.find(id);
      if (found == calls.end()) {
        return;
      }
      const std::shared_ptr<PendingCall> call = found->second;
      calls.erase(found);
      if (call->op != op) {
        result.emplace(link_error(LinkFailure::bad_frame, "the response to " +
                                                              call_name(call->op, id) +
                                                              " is for op " +
                                                              std::string(ped::op_name(op))));
      } else {
        result.emplace(std::move(body));
      }
      if (!options.deliver_on_reader || !call->completion) {
        finish_locked(call, std::move(*result));
        return;
      }
      completion = std::move(call->completion);
    }
    // deliver_on_reader: run it here, outside the lock (it may call back into
    // the link), instead of waking the dispatcher for it.
    const std::lock_guard callback(callback_mutex);
    completion(std::move(*result));
  }

  void run_writer() {
    for (;;) {
      OutgoingFrame next;
      std::chrono::milliseconds timeout{0};
      ped::Op op = ped::Op::identify;
      {
        std::unique_lock lock(mutex);
        writer_wake.wait(lock, [&] { return stopping || !outgoing.empty(); });
        if (outgoing.empty()) {
          return;  // stopping
        }
        next = std::move(outgoing.front());
        outgoing.pop_front();
        const auto found = calls.find(next.id);
        if (found == calls.end()) {
          detail::wipe(next.frame);  // timed out before it could be sent
          continue;
        }
        op = found->second->op;
        timeout = std::max(
            std::chrono::milliseconds(1),
            std::chrono::ceil<std::chrono::milliseconds>(found->second->deadline - Clock::now()));
      }
      const auto sent = transport->send(next.frame, timeout);
      detail::wipe(next.frame);
      if (!sent.ok()) {
        if (is_timeout(sent.error())) {
          complete(next.id, link_error(LinkFailure::timeout, description + " did not take " +
                                                                 call_name(op, next.id) +
                                                                 " before its deadline"));
          continue;
        }
        go_down(sent.error());
      }
    }
  }

  void run_dispatcher() {
    for (;;) {
      std::deque<Delivery> batch;
      {
        std::unique_lock lock(mutex);
        for (;;) {
          const Clock::time_point now = Clock::now();
          Clock::time_point next_deadline = Clock::time_point::max();
          for (auto it = calls.begin(); it != calls.end();) {
            const std::shared_ptr<PendingCall> call = it->second;
            if (!call->completion) {
              ++it;  // call() waits out its own deadline
              continue;
            }
            if (call->deadline <= now) {
              it = calls.erase(it);
              finish_locked(call, link_error(LinkFailure::timeout,
                                             "no response to " + call_name(call->op, call->id) +
                                                 " from " + description + " within " +
                                                 std::to_string(call->timeout.count()) + " ms"));
            } else {
              next_deadline = std::min(next_deadline, call->deadline);
              ++it;
            }
          }
          if (!deliveries.empty()) {
            batch.swap(deliveries);
            break;
          }
          if (stopping) {
            return;
          }
          dispatcher_sleeps_until = next_deadline;
          if (next_deadline == Clock::time_point::max()) {
            dispatcher_wake.wait(lock);
          } else {
            dispatcher_wake.wait_until(lock, next_deadline);
          }
          dispatcher_sleeps_until = Clock::time_point::min();
        }
      }
      for (Delivery& d : batch) {
        deliver(d);
      }
    }
  }

  void deliver(Delivery& d) {
    const std::lock_guard callback(callback_mutex);
    switch (d.kind) {
      case Delivery::Kind::completion:
        if (d.completion && d.result) {
          d.completion(std::move(*d.result));
        }
        break;
      case Delivery::Kind::event:
        if (handlers.on_event) {
          handlers.on_event(d.event, std::move(d.body));
        }
        break;
      case Delivery::Kind::disconnect:
        if (handlers.on_disconnect && d.reason) {
          handlers.on_disconnect(*d.reason);
        }
        break;
      default:
        break;
    }
  }
};

PedLink::PedLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<PedLink>> PedLink::start(std::unique_ptr<PedTransport> transport,
                                                Handlers handlers, PedLinkOptions options) {
  if (!transport) {
    return make_error(Errc::invalid_argument, "PedLink needs a transport");
  }
  if (options.max_in_flight == 0 || options.read_timeout <= std::chrono::milliseconds(0)) {
    return make_error(Errc::invalid_argument,
                      "PedLink needs max_in_flight >= 1 and a positive read timeout");
  }
  auto impl = std::make_unique<Impl>();
  impl->description = transport->description();
  impl->transport = std::move(transport);
  impl->handlers = std::move(handlers);
  impl->options = options;
  Impl* const raw = impl.get();
  std::unique_ptr<PedLink> link(new PedLink(std::move(impl)));
  raw->dispatcher = std::thread([raw] { raw->run_dispatcher(); });
  raw->writer = std::thread([raw] { raw->run_writer(); });
  raw->reader = std::thread([raw] { raw->run_reader(); });
  return link;
}

PedLink::~PedLink() {
  Impl& self = *impl_;
  assert(std::this_thread::get_id() != self.dispatcher.get_id() &&
         std::this_thread::get_id() != self.reader.get_id() &&
         "a PedLink destroyed from its own callback");
  close();
  {
    const std::lock_guard lock(self.mutex);
    self.stopping = true;
    self.writer_wake.notify_all();
    self.dispatcher_wake.notify_all();
  }
  for (std::thread* const t : {&self.reader, &self.writer, &self.dispatcher}) {
    if (t->joinable()) {
      t->join();
    }
  }
}

Result<SecretBytes> PedLink::call(ped::Op op, ByteView body, std::chrono::milliseconds timeout) {
  Impl& self = *impl_;
  std::unique_lock lock(self.mutex);
  RPED_TRY_ASSIGN(const std::shared_ptr<PendingCall> call,
                  self.register_call_locked(op, body, timeout, Completion{}));
  lock.unlock();
  self.wake_for(*call);
  lock.lock();
  self.call_done.wait_until(lock, call->deadline, [&] { return call->done; });
  if (!call->done) {
    self.calls.erase(call->id);
    return link_error(LinkFailure::timeout, "no response to " + call_name(op, call->id) + " from " +
                                                self.description + " within " +
                                                std::to_string(call->timeout.count()) + " ms");
  }
  return std::move(*call->result);
}

void PedLink::call_async(ped::Op op, ByteView body, std::chrono::milliseconds timeout,
                         Completion completion) {
  Impl& self = *impl_;
  std::unique_lock lock(self.mutex);
  // Moved from only when the call is registered.
  auto registered = self.register_call_locked(op, body, timeout, std::move(completion));
  if (!registered.ok()) {
    // Refused: still completed on the dispatcher, never inline.
    Delivery d;
    d.kind = Delivery::Kind::completion;
    d.completion = std::move(completion);
    d.result.emplace(std::move(registered).error());
    self.deliveries.push_back(std::move(d));
    self.dispatcher_wake.notify_all();
    return;
  }
  lock.unlock();
  self.wake_for(*registered.value());
}

void PedLink::close() {
  Impl& self = *impl_;
  {
    const std::lock_guard lock(self.mutex);
    if (!self.down) {
      self.closed_by_user = true;
      self.down = link_error(LinkFailure::closed, self.description + " link closed");
      self.fail_all_locked(*self.down);
    }
    self.writer_wake.notify_all();
    self.dispatcher_wake.notify_all();
  }
  self.transport->close();
}

bool PedLink::connected() const {
  const std::lock_guard lock(impl_->mutex);
  return !impl_->down.has_value();
}

std::string PedLink::description() const {
  return impl_->description;
}

}  // namespace rped::usb
