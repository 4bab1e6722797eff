// PedMonitor: which PEDs matching a VID:PID[:serial] are attached, and
// callbacks when one arrives or leaves.
//
// With libusb hot-plug support (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG))
// arrivals and departures come from libusb's hot-plug events; otherwise, or
// with force_polling, the monitor enumerates every poll_interval (about 1 s)
// and reports the difference. PEDs already attached at start() are reported
// as arrivals. libusb event handling runs on the UsbContext's thread; the
// monitor's own worker thread reads serial numbers (which needs the device
// opened briefly) and runs the callbacks.
//
// A PED is identified by bus and address; a replugged PED gets a new address
// and is reported as a departure and an arrival.
//
// Thread-safety: present() may be called from any thread. Callbacks run on the
// monitor's worker thread, one at a time, never while the monitor holds its
// lock; they must not destroy the monitor (stop() joins that thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rped/result.h"
#include "rped/usb/device_id.h"
#include "rped/usb/usb_context.h"

namespace rped::usb {

struct PedPresence final {
  std::uint16_t vendor_id = 0;
  std::uint16_t product_id = 0;
  std::string serial;  // "" when the PED has none or it could not be read
  std::uint8_t bus = 0;
  std::uint8_t address = 0;

  // An id that opens exactly this PED with LibusbTransport (when it has a serial).
  PedUsbId id() const { return PedUsbId{vendor_id, product_id, serial}; }
  std::string description() const;  // "USB PED 1209:0001:PED0000001 (bus 1 address 2)"
};

struct PedMonitorOptions final {
  PedUsbId device;                                // default 1209:0001, any serial
  std::chrono::milliseconds poll_interval{1000};  // used without hot-plug support
  bool force_polling = false;                     // poll even when hot-plug works
  std::shared_ptr<UsbContext> context;            // null: the monitor makes its own
};

class PedMonitor final {
 public:
  using PresenceCallback = std::function<void(const PedPresence& ped)>;

  static Result<std::unique_ptr<PedMonitor>> start(PedMonitorOptions options,
                                                   PresenceCallback on_attach,
                                                   PresenceCallback on_detach);
  ~PedMonitor();
  PedMonitor(const PedMonitor&) = delete;
  PedMonitor& operator=(const PedMonitor&) = delete;

  // Stops watching and joins the worker; no callback runs after it returns. Idempotent.
  void stop();

  // The matching PEDs attached now, as last reported to on_attach.
  std::vector<PedPresence> present() const;
  bool uses_hotplug() const noexcept;

  struct Impl;

 private:
  explicit PedMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rped::usb
