#include "rped/usb/libusb_transport.h"

#include <libusb.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "frame_assembler.h"
#include "libusb_util.h"
#include "rped/secret.h"
#include "rped/usb/link_error.h"

namespace rped::usb {

using Clock = std::chrono::steady_clock;

namespace {

// One submitted transfer; lives on the stack of the thread waiting for it.
struct Slot final {
  LibusbTransport::Impl* owner = nullptr;
  libusb_transfer* transfer = nullptr;
  bool done = false;
  int status = LIBUSB_TRANSFER_ERROR;
  int actual = 0;
};

struct Outcome final {
  int status = LIBUSB_TRANSFER_ERROR;  // libusb_transfer_status
  std::size_t actual = 0;
};

unsigned int timeout_ms(Clock::duration remaining) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining).count();
  return static_cast<unsigned int>(std::clamp<long long>(ms, 1, INT_MAX));
}

std::string hex_endpoint(std::uint8_t endpoint) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  out += kDigits[endpoint >> 4];
  out += kDigits[endpoint & 0x0f];
  return out;
}

}  // namespace

struct LibusbTransport::Impl final {
  std::shared_ptr<UsbContext> context;
  libusb_device_handle* handle = nullptr;
  libusb_device* device = nullptr;  // owned by handle
  UsbPedInfo info;
  std::string description;
  std::chrono::microseconds write_delay{0};
  bool subscribed = false;
  UsbContext::SubscriptionId subscription = 0;

  // State shared with the event thread.
  std::mutex mutex;
  std::condition_variable changed;
  bool closed = false;
  bool unplugged = false;
  std::string broken;  // non-empty: the framing is out of step, the transport is unusable
  int active_calls = 0;
  std::vector<Slot*> in_flight;

  std::mutex send_mutex;
  std::mutex receive_mutex;
  detail::FrameAssembler assembler;  // receive_mutex
  Bytes in_buffer;                   // receive_mutex

  static void LIBUSB_CALL on_transfer_done(libusb_transfer* transfer) {
    auto* const slot = static_cast<Slot*>(transfer->user_data);
    Impl* const owner = slot->owner;
    const std::lock_guard lock(owner->mutex);
    slot->status = transfer->status;
    slot->actual = transfer->actual_length;
    slot->done = true;
    owner->changed.notify_all();
  }

  // Runs on the event thread: the hot-plug "left" event for our device.
  void on_device_left(libusb_device* left) {
    if (left != device) {
      return;
    }
    const std::lock_guard lock(mutex);
    if (closed) {
      return;
    }
    unplugged = true;
    cancel_in_flight_locked();
    changed.notify_all();
  }

  void cancel_in_flight_locked() {
    for (Slot* const slot : in_flight) {
      // NOT_FOUND: already completing; it reaches on_transfer_done anyway.
      static_cast<void>(libusb_cancel_transfer(slot->transfer));
    }
  }

  Result<void> usable_locked() const {
    if (closed) {
      return link_error(LinkFailure::closed, description + " is closed");
    }
    if (unplugged) {
      return link_error(LinkFailure::unplugged, description + " was disconnected");
    }
    if (!broken.empty()) {
      return link_error(LinkFailure::io, broken);
    }
    return {};
  }

  // Counts a send()/receive() in progress so close() can wait it out.
  class CallScope final {
   public:
    explicit CallScope(Impl& impl) : impl_(impl) {
      const std::lock_guard lock(impl_.mutex);
      status_ = impl_.usable_locked();
      if (status_.ok()) {
        ++impl_.active_calls;
      }
    }
    ~CallScope() {
      if (status_.ok()) {
        const std::lock_guard lock(impl_.mutex);
        --impl_.active_calls;
        impl_.changed.notify_all();
      }
    }
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;
    const Result<void>& status() const { return status_; }

   private:
    Impl& impl_;
    Result<void> status_;
  };

  // Submits one bulk transfer and waits for it. libusb's own timeout bounds the
  // wait; close() and the hot-plug "left" event cancel it earlier.
  Result<Outcome> transfer(std::uint8_t endpoint, std::uint8_t* data, std::size_t length,
                           Clock::time_point deadline) {
    std::unique_lock lock(mutex);
    RPED_TRY(usable_locked());
    const Clock::duration remaining = deadline - Clock::now();
    if (remaining <= Clock::duration::zero()) {
      return Outcome{LIBUSB_TRANSFER_TIMED_OUT, 0};
    }
    libusb_transfer* const transfer = libusb_alloc_transfer(0);
    if (transfer == nullptr) {
      return link_error(LinkFailure::io, "libusb_alloc_transfer failed");
    }
    Slot slot;
    slot.owner = this;
    slot.transfer = transfer;
    libusb_fill_bulk_transfer(transfer, handle, endpoint, data, static_cast<int>(length),
                              &Impl::on_transfer_done, &slot, timeout_ms(remaining));
    in_flight.push_back(&slot);
    lock.unlock();
    const int r = libusb_submit_transfer(transfer);
    lock.lock();
    if (r != LIBUSB_SUCCESS) {
      std::erase(in_flight, &slot);
      libusb_free_transfer(transfer);
      if (r == LIBUSB_ERROR_NO_DEVICE) {
        unplugged = true;
        return link_error(LinkFailure::unplugged, description + " was disconnected");
      }
      RPED_TRY(usable_locked());
      return link_error(LinkFailure::io, "submitting a bulk transfer on endpoint " +
                                             hex_endpoint(endpoint) +
                                             " failed: " + detail::libusb_text(r));
    }
    if (closed || unplugged) {
      // close() or the unplug ran between submit and now and could not cancel it yet.
      static_cast<void>(libusb_cancel_transfer(transfer));
    }
    changed.wait(lock, [&] { return slot.done; });
    std::erase(in_flight, &slot);
    lock.unlock();
    libusb_free_transfer(transfer);
    return Outcome{slot.status, static_cast<std::size_t>(std::max(slot.actual, 0))};
  }

  // The error for a transfer that did not complete.
  Error outcome_error(const Outcome& outcome, std::uint8_t endpoint) {
    std::unique_lock lock(mutex);
    switch (outcome.status) {
      case LIBUSB_TRANSFER_TIMED_OUT:
        return link_error(LinkFailure::timeout, "no data on endpoint " + hex_endpoint(endpoint) +
                                                    " of " + description + " before the deadline");
      case LIBUSB_TRANSFER_NO_DEVICE:
        unplugged = true;
        return link_error(LinkFailure::unplugged, description + " was disconnected");
      case LIBUSB_TRANSFER_CANCELLED: {
        const auto state = usable_locked();
        if (!state.ok()) {
          return state.error();
        }
        return link_error(LinkFailure::io,
                          "a transfer on endpoint " + hex_endpoint(endpoint) + " was cancelled");
      }
      case LIBUSB_TRANSFER_STALL: {
        lock.unlock();
        static_cast<void>(libusb_clear_halt(handle, endpoint));
        return link_error(LinkFailure::io, "endpoint " + hex_endpoint(endpoint) + " of " +
                                               description + " stalled (halt cleared)");
      }
      case LIBUSB_TRANSFER_OVERFLOW:
        return link_error(LinkFailure::bad_frame,
                          "the PED sent more than a bulk IN transfer holds");
      case LIBUSB_TRANSFER_ERROR:
      default:
        return link_error(LinkFailure::io, "a transfer on endpoint " + hex_endpoint(endpoint) +
                                               " of " + description + " failed");
    }
  }

  void mark_broken(std::string reason) {
    const std::lock_guard lock(mutex);
    if (broken.empty()) {
      broken = std::move(reason);
    }
  }

  // Waits out pedwritedelay between chunks; close() and unplug end the wait.
  Result<void> pause_between_chunks() {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, write_delay, [&] { return closed || unplugged; });
    return usable_locked();
  }
};

LibusbTransport::LibusbTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LibusbTransport::~LibusbTransport() {
  close();
}

const UsbPedInfo& LibusbTransport::info() const noexcept {
  return impl_->info;
}

std::string LibusbTransport::description() const {
  return impl_->description;
}

Result<std::unique_ptr<LibusbTransport>> LibusbTransport::open(LibusbTransportOptions options) {
  if (options.write_delay < std::chrono::microseconds::zero() ||
      options.write_delay > kMaxPedWriteDelay) {
    return make_error(Errc::invalid_argument,
                      "pedwritedelay " + std::to_string(options.write_delay.count()) +
                          " us is outside 0 to " + std::to_string(kMaxPedWriteDelay.count()) +
                          " us");
  }
  auto impl = std::make_unique<Impl>();
  impl->write_delay = options.write_delay;
  if (options.context) {
    impl->context = std::move(options.context);
  } else {
    RPED_TRY_ASSIGN(impl->context, UsbContext::create());
  }
  libusb_context* const ctx = impl->context->native();
  const PedUsbId& wanted = options.device;

  libusb_device** list = nullptr;
  const ssize_t count = libusb_get_device_list(ctx, &list);
  if (count < 0) {
    return link_error(LinkFailure::io,
                      "cannot list USB devices: " + detail::libusb_text(static_cast<int>(count)));
  }
  const std::unique_ptr<libusb_device*, void (*)(libusb_device**)> list_guard(
      list, [](libusb_device** l) { libusb_free_device_list(l, 1); });

  libusb_device* chosen = nullptr;
  libusb_device_descriptor chosen_descriptor{};
  std::string chosen_serial;
  std::string others;  // what else with this VID:PID was seen, for the not_found message
  for (ssize_t i = 0; i < count && chosen == nullptr; ++i) {
    libusb_device_descriptor descriptor{};
    if (libusb_get_device_descriptor(list[i], &descriptor) != LIBUSB_SUCCESS ||
        !wanted.matches(descriptor.idVendor, descriptor.idProduct)) {
      continue;
    }
    if (wanted.serial.empty()) {
      chosen = list[i];
      chosen_descriptor = descriptor;
      continue;
    }
    const auto serial = detail::probe_serial(list[i], descriptor);
    if (serial.ok() && serial.value() == wanted.serial) {
      chosen = list[i];
      chosen_descriptor = descriptor;
      chosen_serial = serial.value();
      continue;
    }
    others += others.empty() ? " (attached with this VID:PID: " : ", ";
    others += serial.ok() ? "serial \"" + serial.value() + "\"" : "serial unreadable";
    others += " at " + detail::usb_location(list[i]);
  }
  if (chosen == nullptr) {
    return link_error(LinkFailure::not_found, "no USB PED " + wanted.to_string() + " is attached" +
                                                  (others.empty() ? "" : others + ")"));
  }

  RPED_TRY_ASSIGN(const detail::BulkInterface bulk, detail::find_bulk_interface(chosen));
  const int opened = libusb_open(chosen, &impl->handle);
  if (opened != LIBUSB_SUCCESS) {
    impl->handle = nullptr;
    if (opened == LIBUSB_ERROR_NO_DEVICE) {
      return link_error(LinkFailure::unplugged, "the PED at " + detail::usb_location(chosen) +
                                                    " went away while being opened");
    }
    const std::string hint = opened == LIBUSB_ERROR_ACCESS
                                 ? "; give this user access to the device node (udev rule)"
                                 : "";
    return link_error(LinkFailure::io, "cannot open the PED at " + detail::usb_location(chosen) +
                                           ": " + detail::libusb_text(opened) + hint);
  }
  // From here the handle is released by close() through the transport's destructor.
  impl->device = libusb_get_device(impl->handle);
  UsbPedInfo& info = impl->info;
  info.bus = libusb_get_bus_number(chosen);
  info.address = libusb_get_device_address(chosen);
  info.interface_number = bulk.interface_number;
  info.endpoint_in = bulk.endpoint_in;
  info.endpoint_out = bulk.endpoint_out;
  info.in_packet_size = bulk.in_packet_size;
  info.out_packet_size = bulk.out_packet_size;
  if (wanted.serial.empty()) {
    const auto serial = detail::read_serial(impl->handle, chosen_descriptor);
    chosen_serial = serial.ok() ? serial.value() : std::string();
  }
  info.serial = chosen_serial;
  impl->description =
      "USB PED " +
      PedUsbId{chosen_descriptor.idVendor, chosen_descriptor.idProduct, info.serial}.to_string() +
      " (" + detail::usb_location(chosen) + ")";
  std::unique_ptr<LibusbTransport> transport(new LibusbTransport(std::move(impl)));
  Impl& self = *transport->impl_;

  const int active = libusb_kernel_driver_active(self.handle, bulk.interface_number);
  if (active == 1) {
    const int detached = libusb_detach_kernel_driver(self.handle, bulk.interface_number);
    if (detached != LIBUSB_SUCCESS && detached != LIBUSB_ERROR_NOT_FOUND) {
      return link_error(LinkFailure::busy, "cannot detach the kernel driver from interface " +
                                               std::to_string(bulk.interface_number) + " of " +
                                               self.description + ": " +
                                               detail::libusb_text(detached));
    }
    info.kernel_driver_detached = detached == LIBUSB_SUCCESS;
  }
  const int claimed = libusb_claim_interface(self.handle, bulk.interface_number);
  if (claimed != LIBUSB_SUCCESS) {
    const LinkFailure kind = claimed == LIBUSB_ERROR_BUSY        ? LinkFailure::busy
                             : claimed == LIBUSB_ERROR_NO_DEVICE ? LinkFailure::unplugged
                                                                 : LinkFailure::io;
    return link_error(
        kind, "cannot claim interface " + std::to_string(bulk.interface_number) + " of " +
                  self.description + ": " + detail::libusb_text(claimed) +
                  (claimed == LIBUSB_ERROR_BUSY ? "; is another pedserver using this PED?" : ""));
  }
  if (bulk.alt_setting != 0) {
    const int alt =
        libusb_set_interface_alt_setting(self.handle, bulk.interface_number, bulk.alt_setting);
    if (alt != LIBUSB_SUCCESS) {
      return link_error(LinkFailure::io, "cannot select alternate setting " +
                                             std::to_string(bulk.alt_setting) + ": " +
                                             detail::libusb_text(alt));
    }
  }
  // Whole packets only, so a transfer never overflows.
  self.in_buffer.resize(kBulkInTransferBytes - kBulkInTransferBytes % info.in_packet_size);
  if (self.context->has_hotplug()) {
    Impl* const raw = &self;
    self.subscription = self.context->subscribe([raw](libusb_device* device, bool arrived) {
      if (!arrived) {
        raw->on_device_left(device);
      }
    });
    self.subscribed = true;
  }
  return transport;
}

Result<void> LibusbTransport::send(ByteView frame, std::chrono::milliseconds timeout) {
  RPED_TRY(detail::check_whole_frame(frame));
  Impl& self = *impl_;
  const std::lock_guard send_lock(self.send_mutex);
  const Impl::CallScope scope(self);
  RPED_TRY(scope.status());
  const Clock::time_point deadline = Clock::now() + timeout;

  Bytes out(frame.begin(), frame.end());  // libusb wants a mutable buffer
  struct WipeOnExit {
    Bytes& bytes;
    ~WipeOnExit() { detail::wipe(bytes); }
  } wipe_out{out};

  const std::size_t chunk = self.write_delay.count() > 0 ? self.info.out_packet_size : out.size();
  std::size_t sent = 0;
  while (sent < out.size()) {
    if (sent > 0 && self.write_delay.count() > 0) {
      RPED_TRY(self.pause_between_chunks());
    }
    const std::size_t length = std::min(chunk, out.size() - sent);
    auto outcome = self.transfer(self.info.endpoint_out, out.data() + sent, length, deadline);
    if (!outcome.ok()) {
      if (sent > 0 && !is_unplugged(outcome.error()) &&
          !is_link_failure(outcome.error(), LinkFailure::closed)) {
        self.mark_broken("a frame was only partly sent (" + std::to_string(sent) + " of " +
                         std::to_string(out.size()) + " bytes); the PED's framing is out of step");
      }
      return std::move(outcome).error();
    }
    sent += outcome->actual;
    if (outcome->status != LIBUSB_TRANSFER_COMPLETED) {
      Error error = self.outcome_error(outcome.value(), self.info.endpoint_out);
      if (sent > 0 && is_timeout(error)) {
        const std::string reason = "a frame was only partly sent (" + std::to_string(sent) +
                                   " of " + std::to_string(out.size()) +
                                   " bytes) before the deadline; the PED's framing is out of step";
        self.mark_broken(reason);
        return link_error(LinkFailure::io, reason);
      }
      if (is_timeout(error)) {
        return link_error(LinkFailure::timeout,
                          self.description + " did not take the frame before the deadline");
      }
      return error;
    }
  }
  return {};
}

Result<Bytes> LibusbTransport::receive(std::chrono::milliseconds timeout) {
  Impl& self = *impl_;
  const std::lock_guard receive_lock(self.receive_mutex);
  const Impl::CallScope scope(self);
  RPED_TRY(scope.status());
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    auto next = self.assembler.next();
    if (!next.ok()) {
      self.mark_broken(next.error().message);
      return std::move(next).error();
    }
    if (next->has_value()) {
      return std::move(*next.value());
    }
    auto outcome = self.transfer(self.info.endpoint_in, self.in_buffer.data(),
                                 self.in_buffer.size(), deadline);
    if (!outcome.ok()) {
      return std::move(outcome).error();
    }
    const std::size_t got = std::min(outcome->actual, self.in_buffer.size());
    self.assembler.append(ByteView(self.in_buffer).first(got));
    secure_wipe(self.in_buffer.data(), got);
    if (outcome->status != LIBUSB_TRANSFER_COMPLETED) {
      // Bytes that arrived before a timeout may have finished a frame.
      auto last = self.assembler.next();
      if (last.ok() && last->has_value()) {
        return std::move(*last.value());
      }
      return self.outcome_error(outcome.value(), self.info.endpoint_in);
    }
  }
}

void LibusbTransport::close() {
  Impl& self = *impl_;
  {
    std::unique_lock lock(self.mutex);
    if (self.closed) {
      return;
    }
    self.closed = true;
    self.cancel_in_flight_locked();
    self.changed.notify_all();
    self.changed.wait(lock, [&] { return self.active_calls == 0; });
  }
  if (self.subscribed) {
    self.context->unsubscribe(self.subscription);
    self.subscribed = false;
  }
  if (self.handle != nullptr) {
    bool gone = false;
    {
      const std::lock_guard lock(self.mutex);
      gone = self.unplugged;
    }
    if (!gone) {
      static_cast<void>(libusb_release_interface(self.handle, self.info.interface_number));
      if (self.info.kernel_driver_detached) {
        static_cast<void>(libusb_attach_kernel_driver(self.handle, self.info.interface_number));
      }
    }
    libusb_close(self.handle);
    self.handle = nullptr;
  }
  const std::lock_guard receive_lock(self.receive_mutex);
  self.assembler.clear();
}

}  // namespace rped::usb
