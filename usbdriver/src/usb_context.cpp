#include "rped/usb/usb_context.h"

#include <libusb.h>
#include <sys/time.h>

#include <chrono>
#include <string>
#include <vector>

#include "libusb_util.h"
#include "rped/usb/link_error.h"

namespace rped::usb {

Result<std::shared_ptr<UsbContext>> UsbContext::create(bool use_hotplug) {
  auto self = std::make_shared<UsbContext>(Token{});
  const int r = libusb_init(&self->context_);
  if (r != LIBUSB_SUCCESS) {
    self->context_ = nullptr;
    return link_error(LinkFailure::io, "libusb_init failed: " + detail::libusb_text(r));
  }
  if (use_hotplug && libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) != 0) {
    libusb_hotplug_callback_handle handle = 0;
    const int hr = libusb_hotplug_register_callback(
        self->context_,
        static_cast<libusb_hotplug_event>(LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED |
                                          LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT),
        static_cast<libusb_hotplug_flag>(0), LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
        LIBUSB_HOTPLUG_MATCH_ANY,
        [](libusb_context* c, libusb_device* d, libusb_hotplug_event e, void* user) -> int {
          return UsbContext::on_hotplug(c, d, static_cast<int>(e), user);
        },
        self.get(), &handle);
    // Without a registration the owners fall back to what works without hot-plug.
    self->hotplug_registered_ = hr == LIBUSB_SUCCESS;
    self->hotplug_handle_ = handle;
  }
  UsbContext* const raw = self.get();
  self->events_ = std::thread([raw] { raw->run_events(); });
  return self;
}

UsbContext::~UsbContext() {
  if (context_ == nullptr) {
    return;
  }
  stopping_.store(true);
  if (events_.joinable()) {
    libusb_interrupt_event_handler(context_);
    events_.join();
  }
  if (hotplug_registered_) {
    libusb_hotplug_deregister_callback(context_, hotplug_handle_);
  }
  libusb_exit(context_);
}

void UsbContext::run_events() noexcept {
  while (!stopping_.load()) {
    timeval tv{0, 200'000};
    const int r = libusb_handle_events_timeout_completed(context_, &tv, nullptr);
    if (r != LIBUSB_SUCCESS && r != LIBUSB_ERROR_INTERRUPTED && r != LIBUSB_ERROR_TIMEOUT) {
      // A persistent poll failure must not spin a core.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

int UsbContext::on_hotplug(libusb_context* /*context*/, libusb_device* device, int event,
                           void* self) noexcept {
  auto* const ctx = static_cast<UsbContext*>(self);
  const bool arrived = event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED;
  const std::lock_guard dispatch(ctx->dispatch_mutex_);
  std::vector<std::shared_ptr<HotplugSubscriber>> current;
  {
    const std::lock_guard lock(ctx->subscribers_mutex_);
    current.reserve(ctx->subscribers_.size());
    for (const auto& [id, subscriber] : ctx->subscribers_) {
      current.push_back(subscriber);
    }
  }
  for (const auto& subscriber : current) {
    (*subscriber)(device, arrived);
  }
  return 0;  // stay registered
}

UsbContext::SubscriptionId UsbContext::subscribe(HotplugSubscriber subscriber) {
  const std::lock_guard lock(subscribers_mutex_);
  const SubscriptionId id = next_id_++;
  subscribers_.emplace(id, std::make_shared<HotplugSubscriber>(std::move(subscriber)));
  return id;
}

void UsbContext::unsubscribe(SubscriptionId id) {
  const std::lock_guard dispatch(dispatch_mutex_);
  const std::lock_guard lock(subscribers_mutex_);
  subscribers_.erase(id);
}

}  // namespace rped::usb
