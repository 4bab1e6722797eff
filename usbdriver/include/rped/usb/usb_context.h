// A libusb-1.0 context with its own event thread. LibusbTransport and
// PedMonitor run their transfers and hot-plug notifications through one; share
// a context between them (pass the same shared_ptr) or let each make its own.
//
// The event thread runs libusb_handle_events for the context's whole life and
// is the only thread that runs libusb callbacks. When libusb supports hot-plug
// (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)), the context registers one
// hot-plug callback and fans its arrivals and departures out to subscribers.
//
// Thread-safety: every member may be called from any thread. Subscriber
// callbacks run on the event thread, one at a time, and must not block or call
// back into the context. Never release the last reference from a libusb or
// subscriber callback (the destructor joins the event thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "rped/result.h"

struct libusb_context;
struct libusb_device;

namespace rped::usb {

class UsbContext final {
 public:
  // arrived == false: the device left.
  using HotplugSubscriber = std::function<void(libusb_device* device, bool arrived)>;
  using SubscriptionId = std::uint64_t;

  // use_hotplug = false: never register for hot-plug events even when libusb
  // could; monitors then poll, and transports learn of a disconnect from their
  // transfers (NO_DEVICE) alone.
  static Result<std::shared_ptr<UsbContext>> create(bool use_hotplug = true);
  // Stops and joins the event thread, then libusb_exit. Every transport and
  // monitor using the context holds a reference, so this runs after them.
  ~UsbContext();
  UsbContext(const UsbContext&) = delete;
  UsbContext& operator=(const UsbContext&) = delete;

  libusb_context* native() const noexcept { return context_; }
  bool has_hotplug() const noexcept { return hotplug_registered_; }

  // For the driver's own classes (transports, monitors); the subscriber runs
  // on the event thread. When the context has no hot-plug support a
  // subscriber is never called. After unsubscribe() returns the subscriber is
  // not running and will not run again.
  SubscriptionId subscribe(HotplugSubscriber subscriber);
  void unsubscribe(SubscriptionId id);

 private:
  struct Token {};

 public:
  explicit UsbContext(Token) {}  // create() only (make_shared needs a public constructor)

 private:
  static int on_hotplug(libusb_context* context, libusb_device* device, int event,
                        void* self) noexcept;
  void run_events() noexcept;

  libusb_context* context_ = nullptr;
  bool hotplug_registered_ = false;
  int hotplug_handle_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread events_;

  // Held while subscribers run, so unsubscribe() waits them out.
  std::recursive_mutex dispatch_mutex_;
  std::mutex subscribers_mutex_;
  std::map<SubscriptionId, std::shared_ptr<HotplugSubscriber>> subscribers_;
  SubscriptionId next_id_ = 1;
};

}  // namespace rped::usb
