// PedLink over LibusbTransport against an emulated USB PED: responses matched
// by request id under concurrency, call timeouts, events, refusal of bad
// calls, close.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "rped/usb/libusb_transport.h"
#include "rped/usb/ped_link.h"
#include "usb_test_support.h"

namespace rped::usbtest {
namespace {

using test::fails_with;
using test::is_ok;
using test::must;
using usb::LinkFailure;
using usb::PedLink;

class UsbLinkTest : public UsbFixture {
 protected:
  void release_usb() override {
    link_.reset();
    UsbFixture::release_usb();
  }

  PedLink& start_link(PedLink::Handlers handlers = {}, usb::PedLinkOptions options = {}) {
    usb::LibusbTransportOptions transport_options;
    transport_options.context = context();
    auto transport = must(usb::LibusbTransport::open(std::move(transport_options)));
    link_ = must(PedLink::start(std::move(transport), std::move(handlers), options));
    return *link_;
  }

  std::unique_ptr<PedLink> link_;
};

ped::IdentifyResponse identity_of(const SecretBytes& body) {
  const auto [header, payload] = must(ped::parse_response(body.reveal()));
  EXPECT_EQ(header.status, ped::Status::ok) << header.message;
  return must(ped::IdentifyResponse::parse(payload));
}

TEST_F(UsbLinkTest, CallReturnsTheResponseBody) {
  plug_default();
  PedLink& link = start_link();
  const SecretBytes body = must(link.call(ped::Op::identify, {}, 2s));
  EXPECT_EQ(identity_of(body).serial, "PED0000001");
  EXPECT_TRUE(link.connected());
}

TEST_F(UsbLinkTest, ConcurrentCallersEachGetTheirOwnResponse) {
  plug_default();
  PedLink& link = start_link();
  std::atomic<int> good{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        const ped::Op op = (t + i) % 2 == 0 ? ped::Op::identify : ped::Op::get_status;
        auto body = link.call(op, {}, 5s);
        if (!body.ok()) {
          ADD_FAILURE() << body.error().message;
          continue;
        }
        const auto parsed = ped::parse_response(body->reveal());
        if (!parsed.ok() || parsed->first.status != ped::Status::ok) {
          ADD_FAILURE() << "bad response";
          continue;
        }
        const bool right = op == ped::Op::identify
                               ? ped::IdentifyResponse::parse(parsed->second).ok()
                               : ped::StatusResponse::parse(parsed->second).ok();
        good += right ? 1 : 0;
      }
    });
  }
  // call_async alongside, from this thread.
  std::atomic<int> async_good{0};
  Latch<bool> async_done;
  std::atomic<int> remaining{20};
  for (int i = 0; i < 20; ++i) {
    link.call_async(ped::Op::get_status, {}, 5s, [&](Result<SecretBytes> body) {
      if (body.ok() && ped::parse_response(body->reveal()).ok()) {
        ++async_good;
      }
      if (--remaining == 0) {
        async_done.set(true);
      }
    });
  }
  for (std::thread& c : callers) {
    c.join();
  }
  ASSERT_TRUE(async_done.wait(10s).has_value());
  EXPECT_EQ(good.load(), 6 * 15);
  EXPECT_EQ(async_good.load(), 20);
}

TEST_F(UsbLinkTest, ACommandWhoseResponseNeverComesTimesOut) {
  plug_default();
  PedLink& link = start_link();
  const Clock::time_point start = Clock::now();
  const auto result = link.call(ped::Op::read_secret, ped::ReadSecretRequest{}.serialize(), 300ms);
  ASSERT_TRUE(fails_as(result, LinkFailure::timeout));
  EXPECT_GE(elapsed_ms(start), 290ms);
  EXPECT_LT(elapsed_ms(start), 3s);
  // The link is still up and the next call works.
  EXPECT_TRUE(link.connected());
  EXPECT_EQ(identity_of(must(link.call(ped::Op::identify, {}, 2s))).serial, "PED0000001");
}

TEST_F(UsbLinkTest, AnAsyncCallTimesOutOnTheDispatcherThread) {
  plug_default();
  PedLink& link = start_link();
  Latch<Result<SecretBytes>> outcome;
  Latch<std::thread::id> thread;
  const Clock::time_point start = Clock::now();
  link.call_async(ped::Op::read_secret, ped::ReadSecretRequest{}.serialize(), 200ms,
                  [&](Result<SecretBytes> body) {
                    thread.set(std::this_thread::get_id());
                    outcome.set(std::move(body));
                  });
  auto result = outcome.wait(5s);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(fails_as(*result, LinkFailure::timeout));
  EXPECT_GE(elapsed_ms(start), 190ms);
  EXPECT_NE(thread.wait(1s), std::this_thread::get_id());
}

TEST_F(UsbLinkTest, EventsReachTheEventHandler) {
  StandInPed& logic = add_logic();
  plug({}, &logic);
  Latch<std::pair<ped::Op, Bytes>> event;
  PedLink::Handlers handlers;
  handlers.on_event = [&](ped::Op op, Bytes body) { event.set({op, std::move(body)}); };
  start_link(std::move(handlers));
  logic.emit_event(ped::Op::mode_changed, ped::ModeChangedEvent{ped::Mode::admin}.serialize());
  const auto got = event.wait(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->first, ped::Op::mode_changed);
  EXPECT_EQ(must(ped::ModeChangedEvent::parse(got->second)).mode, ped::Mode::admin);
}

TEST_F(UsbLinkTest, RefusesEventsAndOversizedBodiesAsCommands) {
  plug_default();
  PedLink& link = start_link();
  EXPECT_TRUE(fails_with(link.call(ped::Op::display, {}, 1s), Errc::invalid_argument));
  const Bytes huge(ped::kMaxDeviceFrameBytes, 0);
  EXPECT_TRUE(fails_with(link.call(ped::Op::identify, huge, 1s), Errc::invalid_length));
  Latch<Result<SecretBytes>> refused;
  link.call_async(ped::Op::mode_changed, {}, 1s,
                  [&](Result<SecretBytes> body) { refused.set(std::move(body)); });
  const auto result = refused.wait(5s);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(fails_with(*result, Errc::invalid_argument));
}

TEST_F(UsbLinkTest, BoundsTheCallsInFlight) {
  plug_default();
  usb::PedLinkOptions options;
  options.max_in_flight = 2;
  PedLink& link = start_link({}, options);
  Latch<bool> first_two;
  std::atomic<int> finished{0};
  for (int i = 0; i < 2; ++i) {
    link.call_async(ped::Op::read_secret, ped::ReadSecretRequest{}.serialize(), 500ms,
                    [&](Result<SecretBytes>) {
                      if (++finished == 2) {
                        first_two.set(true);
                      }
                    });
  }
  EXPECT_TRUE(fails_as(link.call(ped::Op::identify, {}, 1s), LinkFailure::busy));
  ASSERT_TRUE(first_two.wait(5s).has_value());
  EXPECT_TRUE(is_ok(link.call(ped::Op::identify, {}, 2s)));
}

TEST_F(UsbLinkTest, CloseFailsPendingCallsWithClosedAndNoDisconnectCallback) {
  plug_default();
  std::atomic<int> disconnects{0};
  PedLink::Handlers handlers;
  handlers.on_disconnect = [&](const Error&) { ++disconnects; };
  PedLink& link = start_link(std::move(handlers));
  Latch<Result<SecretBytes>> pending;
  link.call_async(ped::Op::read_secret, ped::ReadSecretRequest{}.serialize(), 30s,
                  [&](Result<SecretBytes> body) { pending.set(std::move(body)); });
  std::this_thread::sleep_for(100ms);
  link.close();
  const auto result = pending.wait(5s);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(fails_as(*result, LinkFailure::closed));
  EXPECT_FALSE(link.connected());
  EXPECT_TRUE(fails_as(link.call(ped::Op::identify, {}, 1s), LinkFailure::closed));
  link_.reset();
  EXPECT_EQ(disconnects.load(), 0);
}

TEST_F(UsbLinkTest, DestroyingTheLinkCompletesEveryPendingCall) {
  plug_default();
  start_link();
  std::atomic<int> completed{0};
  for (int i = 0; i < 5; ++i) {
    link_->call_async(ped::Op::read_secret, ped::ReadSecretRequest{}.serialize(), 30s,
                      [&](Result<SecretBytes> body) {
                        EXPECT_FALSE(body.ok());
                        ++completed;
                      });
  }
  link_.reset();
  EXPECT_EQ(completed.load(), 5);
}

}  // namespace
}  // namespace rped::usbtest
