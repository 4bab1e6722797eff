#include "rped/usb/ped_monitor.h"

#include <libusb.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "libusb_util.h"
#include "rped/usb/link_error.h"

namespace rped::usb {

using Clock = std::chrono::steady_clock;

namespace {

// A serial that cannot be read yet (udev may not have set the node's
// permissions when the arrival is reported) is retried this often.
constexpr int kSerialAttempts = 10;
constexpr std::chrono::milliseconds kSerialRetryInterval{200};

using DeviceKey = std::uint16_t;  // bus << 8 | address

DeviceKey key_of(libusb_device* device) {
  return static_cast<DeviceKey>((libusb_get_bus_number(device) << 8) |
                                libusb_get_device_address(device));
}

struct PendingEvent final {
  libusb_device* device = nullptr;  // referenced
  bool arrived = false;
};

struct Retry final {
  libusb_device* device = nullptr;  // referenced
  int attempts = 0;
  Clock::time_point due;
};

}  // namespace

std::string PedPresence::description() const {
  return "USB PED " + id().to_string() + " (bus " + std::to_string(bus) + " address " +
         std::to_string(address) + ")";
}

struct PedMonitor::Impl final {
  PedMonitorOptions options;
  PresenceCallback on_attach;
  PresenceCallback on_detach;
  std::shared_ptr<UsbContext> context;
  bool hotplug = false;
  bool subscribed = false;
  UsbContext::SubscriptionId subscription = 0;

  mutable std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  bool stopped = false;
  std::deque<PendingEvent> queue;
  std::map<DeviceKey, PedPresence> attached;  // guarded by mutex; written by the worker only
  std::map<DeviceKey, Retry> retries;         // worker only
  std::thread worker;

  // Event thread: queue hot-plug events for this VID:PID.
  void on_hotplug(libusb_device* device, bool arrived) {
    libusb_device_descriptor descriptor{};
    if (libusb_get_device_descriptor(device, &descriptor) != LIBUSB_SUCCESS ||
        !options.device.matches(descriptor.idVendor, descriptor.idProduct)) {
      return;
    }
    const std::lock_guard lock(mutex);
    if (stopping) {
      return;
    }
    queue.push_back(PendingEvent{libusb_ref_device(device), arrived});
    wake.notify_all();
  }

  void run() {
    Clock::time_point next_scan = Clock::now();
    for (;;) {
      std::deque<PendingEvent> events;
      {
        std::unique_lock lock(mutex);
        Clock::time_point until = Clock::time_point::max();
        if (!hotplug) {
          until = next_scan;
        }
        for (const auto& [key, retry] : retries) {
          until = std::min(until, retry.due);
        }
        const auto ready = [&] { return stopping || !queue.empty(); };
        if (until == Clock::time_point::max()) {
          wake.wait(lock, ready);
        } else {
          wake.wait_until(lock, until, ready);
        }
        if (stopping) {
          return;
        }
        events.swap(queue);
      }
      for (PendingEvent& event : events) {
        if (event.arrived) {
          arrive(event.device, 0);
        } else {
          depart(key_of(event.device));
        }
        libusb_unref_device(event.device);
      }
      run_due_retries();
      if (!hotplug && Clock::now() >= next_scan) {
        scan(/*report_departures=*/true);
        next_scan = Clock::now() + options.poll_interval;
      }
    }
  }

  // Enumerates the bus: every matching device not yet known is an arrival; with
  // report_departures, every known device no longer listed is a departure.
  void scan(bool report_departures) {
    libusb_device** list = nullptr;
    const ssize_t count = libusb_get_device_list(context->native(), &list);
    if (count < 0) {
      return;  // try again at the next scan
    }
    std::map<DeviceKey, bool> listed;
    for (ssize_t i = 0; i < count; ++i) {
      libusb_device_descriptor descriptor{};
      if (libusb_get_device_descriptor(list[i], &descriptor) != LIBUSB_SUCCESS ||
          !options.device.matches(descriptor.idVendor, descriptor.idProduct)) {
        continue;
      }
      listed[key_of(list[i])] = true;
      arrive(list[i], 0);
    }
    if (report_departures) {
      std::vector<DeviceKey> gone;
      {
        const std::lock_guard lock(mutex);
        for (const auto& [key, presence] : attached) {
          if (listed.count(key) == 0) {
            gone.push_back(key);
          }
        }
      }
      for (const auto& [key, retry] : retries) {
        if (listed.count(key) == 0) {
          gone.push_back(key);
        }
      }
      for (const DeviceKey key : gone) {
        depart(key);
      }
    }
    libusb_free_device_list(list, 1);
  }

  void arrive(libusb_device* device, int attempts) {
    const DeviceKey key = key_of(device);
    {
      const std::lock_guard lock(mutex);
      if (attached.count(key) != 0) {
        return;
      }
    }
    if (attempts == 0 && retries.count(key) != 0) {
      return;  // already waiting for its serial
    }
    libusb_device_descriptor descriptor{};
    if (libusb_get_device_descriptor(device, &descriptor) != LIBUSB_SUCCESS) {
      return;
    }
    PedPresence presence;
    presence.vendor_id = descriptor.idVendor;
    presence.product_id = descriptor.idProduct;
    presence.bus = libusb_get_bus_number(device);
    presence.address = libusb_get_device_address(device);
    const auto serial = detail::probe_serial(device, descriptor);
    if (serial.ok()) {
      presence.serial = serial.value();
    } else if (is_unplugged(serial.error())) {
      drop_retry(key);  // gone before it could be read; its departure follows
      return;
    } else if (attempts + 1 < kSerialAttempts) {
      // The serial decides whether this is our PED: try again shortly.
      auto found = retries.find(key);
      if (found == retries.end()) {
        retries.emplace(key, Retry{libusb_ref_device(device), attempts + 1,
                                   Clock::now() + kSerialRetryInterval});
      } else {
        found->second.attempts = attempts + 1;
        found->second.due = Clock::now() + kSerialRetryInterval;
      }
      return;
    } else if (!options.device.serial.empty()) {
      drop_retry(key);  // never readable: cannot be the PED asked for
      return;
    }
    drop_retry(key);
    if (!options.device.matches(presence.vendor_id, presence.product_id, presence.serial)) {
      return;
    }
    {
      const std::lock_guard lock(mutex);
      attached.emplace(key, presence);
    }
    if (on_attach) {
      on_attach(presence);
    }
  }

  void depart(DeviceKey key) {
    drop_retry(key);
    PedPresence presence;
    {
      const std::lock_guard lock(mutex);
      const auto found = attached.find(key);
      if (found == attached.end()) {
        return;
      }
      presence = found->second;
      attached.erase(found);
    }
    if (on_detach) {
      on_detach(presence);
    }
  }

  void drop_retry(DeviceKey key) {
    const auto found = retries.find(key);
    if (found != retries.end()) {
      libusb_unref_device(found->second.device);
      retries.erase(found);
    }
  }

  void run_due_retries() {
    const Clock::time_point now = Clock::now();
    std::vector<std::pair<libusb_device*, int>> due;
    for (const auto& [key, retry] : retries) {
      if (retry.due <= now) {
        due.emplace_back(libusb_ref_device(retry.device), retry.attempts);
      }
    }
    for (const auto& [device, attempts] : due) {
      arrive(device, attempts);
      libusb_unref_device(device);
    }
  }
};

PedMonitor::PedMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PedMonitor::~PedMonitor() {
  stop();
}

bool PedMonitor::uses_hotplug() const noexcept {
  return impl_->hotplug;
}

std::vector<PedPresence> PedMonitor::present() const {
  const std::lock_guard lock(impl_->mutex);
  std::vector<PedPresence> out;
  out.reserve(impl_->attached.size());
  for (const auto& [key, presence] : impl_->attached) {
    out.push_back(presence);
  }
  return out;
}

Result<std::unique_ptr<PedMonitor>> PedMonitor::start(PedMonitorOptions options,
                                                      PresenceCallback on_attach,
                                                      PresenceCallback on_detach) {
  if (options.poll_interval < std::chrono::milliseconds(10)) {
    return make_error(Errc::invalid_argument, "the PED poll interval must be at least 10 ms");
  }
  auto impl = std::make_unique<Impl>();
  if (options.context) {
    impl->context = options.context;
  } else {
    RPED_TRY_ASSIGN(impl->context, UsbContext::create());
  }
  impl->hotplug = impl->context->has_hotplug() && !options.force_polling;
  impl->options = std::move(options);
  impl->on_attach = std::move(on_attach);
  impl->on_detach = std::move(on_detach);
  Impl* const raw = impl.get();
  if (impl->hotplug) {
    // Subscribe before the first scan so no arrival falls between them; the
    // scan and the event may both report a PED, and arrive() keeps the first.
    impl->subscription = impl->context->subscribe(
        [raw](libusb_device* device, bool arrived) { raw->on_hotplug(device, arrived); });
    impl->subscribed = true;
  }
  std::unique_ptr<PedMonitor> monitor(new PedMonitor(std::move(impl)));
  raw->worker = std::thread([raw] {
    if (raw->hotplug) {
      raw->scan(/*report_departures=*/false);
    }
    raw->run();
  });
  return monitor;
}

void PedMonitor::stop() {
  Impl& self = *impl_;
  if (self.subscribed) {
    self.context->unsubscribe(self.subscription);
    self.subscribed = false;
  }
  {
    const std::lock_guard lock(self.mutex);
    if (self.stopped) {
      return;
    }
    self.stopping = true;
    self.stopped = true;
    self.wake.notify_all();
  }
  if (self.worker.joinable()) {
    self.worker.join();
  }
  for (PendingEvent& event : self.queue) {
    libusb_unref_device(event.device);
  }
  self.queue.clear();
  for (auto& [key, retry] : self.retries) {
    libusb_unref_device(retry.device);
  }
  self.retries.clear();
}

}  // namespace rped::usb
