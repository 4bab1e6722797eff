// PedMonitor and PedLink across hot-plug: a PED pulled out mid-call is
// reported detached and the call fails promptly with "PED unplugged"; plugged
// back in (at a new address, as a real replug gets) it is reported attached
// and a new link works. Both with libusb hot-plug events and with the polling
// fallback.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>

#include "rped/usb/libusb_transport.h"
#include "rped/usb/ped_link.h"
#include "rped/usb/ped_monitor.h"
#include "usb_test_support.h"

namespace rped::usbtest {
namespace {

using test::is_ok;
using test::must;
using usb::LinkFailure;
using usb::PedLink;
using usb::PedMonitor;
using usb::PedPresence;

// Attach and detach callbacks, recorded in order.
class PresenceLog final {
 public:
  struct Entry {
    bool attached = false;
    PedPresence ped;
  };
  PedMonitor::PresenceCallback on_attach() {
    return [this](const PedPresence& ped) { add(true, ped); };
  }
  PedMonitor::PresenceCallback on_detach() {
    return [this](const PedPresence& ped) { add(false, ped); };
  }
  // The next entry, or nullopt after the timeout.
  std::optional<Entry> next(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return !entries_.empty(); })) {
      return std::nullopt;
    }
    Entry e = entries_.front();
    entries_.pop_front();
    return e;
  }
  std::size_t pending() const {
    const std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  void add(bool attached, const PedPresence& ped) {
    const std::lock_guard lock(mutex_);
    entries_.push_back(Entry{attached, ped});
    changed_.notify_all();
  }
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Entry> entries_;
};

class UsbHotplugTest : public UsbFixture {
 protected:
  void release_usb() override {
    links_.clear();
    monitor_.reset();
    UsbFixture::release_usb();
  }

  PedMonitor& start_monitor(usb::PedMonitorOptions options = {}) {
    if (!options.context) {
      options.context = context();
    }
    monitor_ = must(PedMonitor::start(std::move(options), log_.on_attach(), log_.on_detach()));
    return *monitor_;
  }

  PedLink& start_link(PedLink::Handlers handlers = {}) {
    usb::LibusbTransportOptions options;
    options.context = context();
    links_.push_back(must(
        PedLink::start(must(usb::LibusbTransport::open(std::move(options))), std::move(handlers))));
    return *links_.back();
  }

  // The whole story: attach, a call in flight, unplug, replug, a new link.
  void unplug_mid_call_then_replug() {
    StandInPed& logic = add_logic();
    MockUsbPed& first = plug({.address = 2}, &logic);
    auto attached = log_.next();
    ASSERT_TRUE(attached.has_value());
    EXPECT_TRUE(attached->attached);
    EXPECT_EQ(attached->ped.serial, "PED0000001");
    EXPECT_EQ(attached->ped.address, 2);
    EXPECT_EQ(monitor_->present().size(), 1u);

    Latch<Error> disconnected;
    PedLink::Handlers handlers;
    handlers.on_disconnect = [&](const Error& reason) { disconnected.set(reason); };
    PedLink& link = start_link(std::move(handlers));
    ASSERT_TRUE(is_ok(link.call(ped::Op::identify, {}, 2s)));
    // A login in flight: the PED waits for a key.
    Latch<Result<SecretBytes>> login;
    link.call_async(ped::Op::read_secret, ped::ReadSecretRequest{}.serialize(), 60s,
                    [&](Result<SecretBytes> body) { login.set(std::move(body)); });
    std::this_thread::sleep_for(150ms);
    ASSERT_FALSE(login.is_set());

    const Clock::time_point pulled = Clock::now();
    testbed_->unplug(first);
    const auto failed = login.wait(5s);
    ASSERT_TRUE(failed.has_value()) << "the call in flight hung after the unplug";
    EXPECT_TRUE(fails_as(*failed, LinkFailure::unplugged));
    EXPECT_LT(elapsed_ms(pulled), 3s) << "not prompt";
    const auto reason = disconnected.wait(5s);
    ASSERT_TRUE(reason.has_value());
    EXPECT_TRUE(fails_as(*reason, LinkFailure::unplugged));
    EXPECT_FALSE(link.connected());
    EXPECT_TRUE(fails_as(link.call(ped::Op::identify, {}, 1s), LinkFailure::unplugged));

    auto detached = log_.next();
    ASSERT_TRUE(detached.has_value());
    EXPECT_FALSE(detached->attached);
    EXPECT_EQ(detached->ped.address, 2);
    EXPECT_TRUE(monitor_->present().empty());

    // Back in: the kernel gives it the next address.
    plug({.address = 3}, &logic);
    auto again = log_.next();
    ASSERT_TRUE(again.has_value());
    EXPECT_TRUE(again->attached);
    EXPECT_EQ(again->ped.address, 3);
    EXPECT_EQ(again->ped.serial, "PED0000001");
    PedLink& fresh = start_link();
    const SecretBytes body = must(fresh.call(ped::Op::identify, {}, 2s));
    const auto [header, payload] = must(ped::parse_response(body.reveal()));
    EXPECT_EQ(header.status, ped::Status::ok);
    EXPECT_EQ(log_.pending(), 0u);
  }

  PresenceLog log_;
  std::unique_ptr<PedMonitor> monitor_;
  std::vector<std::unique_ptr<PedLink>> links_;
};

TEST_F(UsbHotplugTest, WithHotplugEventsUnplugFailsTheCallInFlightAndReplugWorks) {
  ASSERT_TRUE(context()->has_hotplug()) << "libusb reports no hot-plug support under umockdev";
  start_monitor();
  EXPECT_TRUE(monitor_->uses_hotplug());
  unplug_mid_call_then_replug();
}

TEST_F(UsbHotplugTest, WithPollingUnplugFailsTheCallInFlightAndReplugWorks) {
  context_ = must(usb::UsbContext::create(/*use_hotplug=*/false));
  usb::PedMonitorOptions options;
  options.poll_interval = 100ms;
  start_monitor(std::move(options));
  EXPECT_FALSE(monitor_->uses_hotplug());
  unplug_mid_call_then_replug();
}

TEST_F(UsbHotplugTest, ReportsPedsAlreadyAttachedAtStart) {
  plug_default();
  start_monitor();
  const auto attached = log_.next();
  ASSERT_TRUE(attached.has_value());
  EXPECT_TRUE(attached->attached);
  EXPECT_EQ(attached->ped.description(), "USB PED 1209:0001:PED0000001 (bus 1 address 2)");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(log_.pending(), 0u) << "reported twice";
}

TEST_F(UsbHotplugTest, WatchesOnlyTheRequestedSerial) {
  MockUsbPed& a = plug_default({.serial = "PED-A", .address = 2, .sysfs_name = "1-1"});
  usb::PedMonitorOptions options;
  options.device.serial = "PED-B";
  start_monitor(std::move(options));
  MockUsbPed& b = plug_default({.serial = "PED-B", .address = 3, .sysfs_name = "1-2"});
  const auto attached = log_.next();
  ASSERT_TRUE(attached.has_value());
  EXPECT_TRUE(attached->attached);
  EXPECT_EQ(attached->ped.serial, "PED-B");
  testbed_->unplug(a);
  testbed_->unplug(b);
  const auto detached = log_.next();
  ASSERT_TRUE(detached.has_value());
  EXPECT_FALSE(detached->attached);
  EXPECT_EQ(detached->ped.serial, "PED-B");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(log_.pending(), 0u) << "PED-A was reported";
}

TEST_F(UsbHotplugTest, IgnoresOtherDevices) {
  start_monitor();
  plug_default({.vendor_id = 0x1209, .product_id = 0x0002, .serial = "OTHER"});
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(log_.pending(), 0u);
}

TEST_F(UsbHotplugTest, StopIsCleanAndFinal) {
  start_monitor();
  monitor_->stop();
  plug_default();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(log_.pending(), 0u);
  monitor_->stop();  // idempotent
}

}  // namespace
}  // namespace rped::usbtest
