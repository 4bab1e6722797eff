// Fixture and helpers shared by the libusb driver tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "mock_usb_ped.h"
#include "rped/ped/device_protocol.h"
#include "rped/usb/link_error.h"
#include "rped/usb/usb_context.h"
#include "stand_in_ped.h"
#include "support/result_assertions.h"

namespace rped::usbtest {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline Bytes command_frame(ped::Op op, std::uint32_t request_id, Bytes body = {}) {
  return ped::DeviceFrame{ped::FrameKind::command, op, request_id, std::move(body)}.serialize();
}

inline std::chrono::milliseconds elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
}

// Polls until predicate() holds or the timeout passes.
inline bool eventually(const std::function<bool()>& predicate,
                       std::chrono::milliseconds timeout = 5s) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (predicate()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return predicate();
}

// The link error's kind, for assertions.
inline ::testing::AssertionResult fails_as(const Error& error, usb::LinkFailure kind) {
  if (usb::link_failure_of(error) == kind) {
    return ::testing::AssertionSuccess() << error.message;
  }
  return ::testing::AssertionFailure()
         << "failed with \"" << error.message << "\"; expected " << usb::link_failure_prefix(kind);
}
template <typename T>
::testing::AssertionResult fails_as(const Result<T>& result, usb::LinkFailure kind) {
  if (result.ok()) {
    return ::testing::AssertionFailure()
           << "succeeded; expected " << usb::link_failure_prefix(kind);
  }
  return fails_as(result.error(), kind);
}

// A value set once by another thread.
template <typename T>
class Latch final {
 public:
  void set(T value) {
    const std::lock_guard lock(mutex_);
    value_.emplace(std::move(value));
    changed_.notify_all();
  }
  // The value, or nullopt after the timeout.
  std::optional<T> wait(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return value_.has_value(); });
    return std::move(value_);
  }
  bool is_set() const {
    const std::lock_guard lock(mutex_);
    return value_.has_value();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<T> value_;
};

// One testbed with one stand-in PED per test; libusb objects are released
// before the testbed, and the testbed before the device logic.
class UsbFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(running_under_umockdev())
        << "run through ctest, or with LD_PRELOAD=libumockdev-preload.so.0: libusb must see the "
           "emulated bus";
    testbed_ = std::make_unique<UsbTestbed>();
  }

  void TearDown() override {
    release_usb();
    testbed_.reset();
    logics_.clear();
  }

  // Subclasses release what they hold on libusb here.
  virtual void release_usb() { context_.reset(); }

  StandInPed& add_logic(std::string serial = "PED0000001") {
    logics_.push_back(std::make_unique<StandInPed>(std::move(serial)));
    return *logics_.back();
  }

  MockUsbPed& plug(MockUsbPedConfig config, DeviceLogic* logic) {
    return testbed_->plug(std::move(config), logic);
  }

  // The usual PED: 1209:0001, serial PED0000001, bus 1 address 2, behind a stand-in.
  MockUsbPed& plug_default(MockUsbPedConfig config = {}) {
    StandInPed& logic = add_logic(config.serial);
    return plug(std::move(config), &logic);
  }

  std::shared_ptr<usb::UsbContext> context() {
    if (!context_) {
      context_ = test::must(usb::UsbContext::create());
    }
    return context_;
  }

  std::unique_ptr<UsbTestbed> testbed_;
  std::vector<std::unique_ptr<StandInPed>> logics_;
  std::shared_ptr<usb::UsbContext> context_;
};

}  // namespace rped::usbtest
