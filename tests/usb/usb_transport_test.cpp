// LibusbTransport through real libusb calls against umockdev-emulated PEDs:
// enumeration by VID:PID and serial, endpoint discovery, kernel-driver
// detach, frame round trips and reassembly, bulk IN timeouts, pedwritedelay,
// close and unplug while a read is pending.
#include <gtest/gtest.h>

#include <thread>

#include "rped/usb/device_id.h"
#include "rped/usb/libusb_transport.h"
#include "usb_test_support.h"

namespace rped::usbtest {
namespace {

using test::fails_with;
using test::is_ok;
using test::must;
using usb::LibusbTransport;
using usb::LibusbTransportOptions;
using usb::LinkFailure;
using usb::PedUsbId;

class UsbTransportTest : public UsbFixture {
 protected:
  std::unique_ptr<LibusbTransport> open(PedUsbId id = {},
                                        std::chrono::microseconds write_delay = 0us) {
    LibusbTransportOptions options;
    options.device = std::move(id);
    options.write_delay = write_delay;
    options.context = context();
    return must(LibusbTransport::open(std::move(options)));
  }
};

TEST(PedUsbIdTest, ParsesVidPidAndSerial) {
  const PedUsbId plain = must(PedUsbId::parse("1209:0001"));
  EXPECT_EQ(plain.vendor_id, 0x1209);
  EXPECT_EQ(plain.product_id, 0x0001);
  EXPECT_TRUE(plain.serial.empty());
  const PedUsbId with_serial = must(PedUsbId::parse("1209:1:PED0000001"));
  EXPECT_EQ(with_serial.product_id, 0x0001);
  EXPECT_EQ(with_serial.serial, "PED0000001");
  EXPECT_EQ(with_serial.to_string(), "1209:0001:PED0000001");
  for (const char* bad :
       {"", "1209", "12090:0001", "1209:xyz", "1209:0001:", "1209:0001:has space", ":0001"}) {
    EXPECT_TRUE(fails_with(PedUsbId::parse(bad), Errc::invalid_argument)) << bad;
  }
}

TEST_F(UsbTransportTest, FindsThePedByVidPidAndDiscoversItsEndpoints) {
  plug_default();
  const auto transport = open();
  const usb::UsbPedInfo& info = transport->info();
  EXPECT_EQ(info.bus, 1);
  EXPECT_EQ(info.address, 2);
  EXPECT_EQ(info.serial, "PED0000001");
  EXPECT_EQ(info.interface_number, 0);
  EXPECT_EQ(info.endpoint_out, 0x01);
  EXPECT_EQ(info.endpoint_in, 0x81);
  EXPECT_EQ(info.out_packet_size, 64);
  EXPECT_EQ(info.in_packet_size, 64);
  EXPECT_FALSE(info.kernel_driver_detached);
  EXPECT_NE(transport->description().find("1209:0001:PED0000001"), std::string::npos)
      << transport->description();
}

TEST_F(UsbTransportTest, FindsThePedBySerialAmongSeveral) {
  plug_default({.serial = "PED-A", .address = 2, .sysfs_name = "1-1"});
  plug_default({.serial = "PED-B", .address = 3, .sysfs_name = "1-2"});
  const auto b = open(PedUsbId{0x1209, 0x0001, "PED-B"});
  EXPECT_EQ(b->info().address, 3);
  EXPECT_EQ(b->info().serial, "PED-B");
  const auto a = open(PedUsbId{0x1209, 0x0001, "PED-A"});
  EXPECT_EQ(a->info().address, 2);
  EXPECT_EQ(a->info().serial, "PED-A");
}

TEST_F(UsbTransportTest, AWrongSerialIsNotFound) {
  plug_default();
  LibusbTransportOptions options;
  options.device = PedUsbId{0x1209, 0x0001, "PED9999999"};
  options.context = context();
  const auto result = LibusbTransport::open(std::move(options));
  ASSERT_TRUE(fails_as(result, LinkFailure::not_found));
  // The message says what was there instead.
  EXPECT_NE(result.error().message.find("PED0000001"), std::string::npos) << result.error().message;
}

TEST_F(UsbTransportTest, AnotherVidPidIsNotFound) {
  plug_default({.vendor_id = 0x1209, .product_id = 0x0002});
  LibusbTransportOptions options;
  options.context = context();
  EXPECT_TRUE(fails_as(LibusbTransport::open(std::move(options)), LinkFailure::not_found));
}

TEST_F(UsbTransportTest, RefusesAWriteDelayOutsideTheRange) {
  plug_default();
  LibusbTransportOptions options;
  options.context = context();
  options.write_delay = 10'001us;
  EXPECT_TRUE(fails_with(LibusbTransport::open(options), Errc::invalid_argument));
  options.write_delay = -1us;
  EXPECT_TRUE(fails_with(LibusbTransport::open(options), Errc::invalid_argument));
}

TEST_F(UsbTransportTest, DetachesABoundKernelDriverAndReattachesItOnClose) {
  MockUsbPed& ped = plug_default({.kernel_driver_bound = true});
  auto transport = open();
  EXPECT_TRUE(transport->info().kernel_driver_detached);
  EXPECT_TRUE(ped.stats().driver_detached);
  EXPECT_EQ(ped.stats().claims, 1);
  transport.reset();
  EXPECT_TRUE(ped.stats().driver_reattached);
  EXPECT_TRUE(ped.stats().driver_bound);
  EXPECT_EQ(ped.stats().releases, 1);
}

TEST_F(UsbTransportTest, IdentifyRoundTripThroughBulkEndpoints) {
  MockUsbPed& ped = plug_default();
  const auto transport = open();
  ASSERT_TRUE(is_ok(transport->send(command_frame(ped::Op::identify, 7), 2s)));
  const Bytes frame = must(transport->receive(2s));
  const ped::DeviceFrame response = must(ped::DeviceFrame::parse(frame));
  EXPECT_EQ(response.kind, ped::FrameKind::response);
  EXPECT_EQ(response.op, ped::Op::identify);
  EXPECT_EQ(response.request_id, 7u);
  const auto [header, payload] = must(ped::parse_response(response.body));
  ASSERT_EQ(header.status, ped::Status::ok);
  const ped::IdentifyResponse identity = must(ped::IdentifyResponse::parse(payload));
  EXPECT_EQ(identity.serial, "PED0000001");
  EXPECT_EQ(identity.mode, ped::Mode::remote);
  EXPECT_GE(ped.stats().out_urbs, 1);
  EXPECT_GE(ped.stats().in_urbs, 1);
}

TEST_F(UsbTransportTest, ReassemblesFramesSplitAcrossAndPackedIntoTransfers) {
  MockUsbPed& ped = plug_default({.stream_in = true});
  const auto transport = open();
  // 40000 bytes need three 16 KiB IN transfers; the two small frames share one.
  Bytes big_body(40'000 - ped::kDeviceFrameHeaderBytes);
  for (std::size_t i = 0; i < big_body.size(); ++i) {
    big_body[i] = static_cast<std::uint8_t>(i * 7);
  }
  const Bytes big =
      ped::DeviceFrame{ped::FrameKind::event, ped::Op::display, 0, big_body}.serialize();
  const Bytes small1 =
      ped::DeviceFrame{ped::FrameKind::event, ped::Op::mode_changed, 0, {2}}.serialize();
  const Bytes small2 =
      ped::DeviceFrame{ped::FrameKind::event, ped::Op::remote_mode_exited, 0, {}}.serialize();
  ped.inject(big);
  ped.inject(small1);
  ped.inject(small2);
  EXPECT_EQ(must(transport->receive(2s)), big);
  EXPECT_EQ(must(transport->receive(2s)), small1);
  EXPECT_EQ(must(transport->receive(2s)), small2);
  EXPECT_LE(ped.stats().in_urbs, 5);
}

TEST_F(UsbTransportTest, AReadWithNothingToReadTimesOutAndTheTransportStaysUsable) {
  MockUsbPed& ped = plug_default();
  const auto transport = open();
  // read_secret waits for a key nobody inserts: no response comes.
  ASSERT_TRUE(is_ok(transport->send(command_frame(ped::Op::read_secret, 1), 2s)));
  const Clock::time_point start = Clock::now();
  const auto nothing = transport->receive(300ms);
  const auto waited = elapsed_ms(start);
  ASSERT_TRUE(fails_as(nothing, LinkFailure::timeout));
  EXPECT_GE(waited, 290ms);
  EXPECT_LT(waited, 3s);
  // libusb cancelled the IN URB on its timeout (USBDEVFS_DISCARDURB).
  EXPECT_GE(ped.stats().discards, 1);

  ASSERT_TRUE(is_ok(transport->send(command_frame(ped::Op::get_status, 2), 2s)));
  const ped::DeviceFrame response = must(ped::DeviceFrame::parse(must(transport->receive(2s))));
  EXPECT_EQ(response.request_id, 2u);
  EXPECT_EQ(response.op, ped::Op::get_status);
}

TEST_F(UsbTransportTest, RefusesAFrameWhoseLengthPrefixIsWrong) {
  plug_default();
  const auto transport = open();
  Bytes frame = command_frame(ped::Op::identify, 1);
  frame.push_back(0);
  EXPECT_TRUE(fails_with(transport->send(frame, 1s), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(transport->send(Bytes{0, 0}, 1s), Errc::invalid_argument));
}

TEST_F(UsbTransportTest, WithoutWriteDelayAFrameIsOneBulkOutTransfer) {
  MockUsbPed& ped = plug_default();
  const auto transport = open();
  ASSERT_TRUE(
      is_ok(transport->send(command_frame(ped::Op::identify, 1, Bytes(1000 - 12, 0x5a)), 2s)));
  const MockUsbStats stats = ped.stats();
  ASSERT_EQ(stats.out_urbs, 1);
  EXPECT_EQ(stats.out_urb_lengths[0], 1000);
}

TEST_F(UsbTransportTest, WriteDelayPacesEveryBulkOutPacket) {
  MockUsbPed& ped = plug_default();
  constexpr auto kDelay = 2000us;
  const auto transport = open({}, kDelay);
  const Bytes frame = command_frame(ped::Op::identify, 1, Bytes(1000 - 12, 0x5a));
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(is_ok(transport->send(frame, 5s)));
  const auto took = Clock::now() - start;
  const MockUsbStats stats = ped.stats();
  // ceil(1000 / 64) = 16 packets, 15 pauses between them.
  ASSERT_EQ(stats.out_urbs, 16);
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(stats.out_urb_lengths[i], 64);
  }
  EXPECT_EQ(stats.out_urb_lengths[15], 1000 - 15 * 64);
  EXPECT_GE(took, 15 * kDelay);  // a lower bound only: scheduling adds to it
  for (std::size_t i = 1; i < stats.out_urb_times.size(); ++i) {
    EXPECT_GE(stats.out_urb_times[i] - stats.out_urb_times[i - 1], kDelay) << "packet " << i;
  }
}

TEST_F(UsbTransportTest, CloseEndsAPendingReceivePromptly) {
  plug_default();
  auto transport = open();
  Latch<Result<Bytes>> outcome;
  std::thread reader([&] { outcome.set(transport->receive(20s)); });
  std::this_thread::sleep_for(100ms);
  const Clock::time_point start = Clock::now();
  transport->close();
  const auto result = outcome.wait(5s);
  reader.join();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(fails_as(*result, LinkFailure::closed));
  EXPECT_LT(elapsed_ms(start), 2s);
  EXPECT_TRUE(
      fails_as(transport->send(command_frame(ped::Op::identify, 1), 1s), LinkFailure::closed));
}

TEST_F(UsbTransportTest, UnplugEndsAPendingReceiveAndLaterCallsFailCleanly) {
  MockUsbPed& ped = plug_default();
  const auto transport = open();
  Latch<Result<Bytes>> outcome;
  std::thread reader([&] { outcome.set(transport->receive(20s)); });
  std::this_thread::sleep_for(100ms);
  const Clock::time_point start = Clock::now();
  testbed_->unplug(ped);
  const auto result = outcome.wait(5s);
  reader.join();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(fails_as(*result, LinkFailure::unplugged));
  EXPECT_LT(elapsed_ms(start), 2s);
  EXPECT_TRUE(
      fails_as(transport->send(command_frame(ped::Op::identify, 2), 1s), LinkFailure::unplugged));
  EXPECT_TRUE(fails_as(transport->receive(100ms), LinkFailure::unplugged));
}

TEST_F(UsbTransportTest, WithoutHotplugTheUnplugArrivesThroughTheTransfers) {
  // No hot-plug subscription: only the URBs completing with -ESHUTDOWN
  // (libusb: LIBUSB_TRANSFER_NO_DEVICE) tell the transport.
  context_ = must(usb::UsbContext::create(/*use_hotplug=*/false));
  ASSERT_FALSE(context_->has_hotplug());
  MockUsbPed& ped = plug_default();
  const auto transport = open();
  Latch<Result<Bytes>> outcome;
  std::thread reader([&] { outcome.set(transport->receive(20s)); });
  std::this_thread::sleep_for(100ms);
  const Clock::time_point start = Clock::now();
  testbed_->unplug(ped);
  const auto result = outcome.wait(5s);
  reader.join();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(fails_as(*result, LinkFailure::unplugged));
  EXPECT_LT(elapsed_ms(start), 2s);
}

TEST_F(UsbTransportTest, ASecondOpenOfAClaimedPedIsBusy) {
  plug_default();
  auto first = open();
  LibusbTransportOptions options;
  options.context = context();
  EXPECT_TRUE(fails_as(LibusbTransport::open(options), LinkFailure::busy));
  // The first keeps working, and once it lets go the PED can be opened again.
  ASSERT_TRUE(is_ok(first->send(command_frame(ped::Op::get_status, 3), 2s)));
  EXPECT_EQ(must(ped::DeviceFrame::parse(must(first->receive(2s)))).request_id, 3u);
  first.reset();
  EXPECT_TRUE(is_ok(LibusbTransport::open(options)));
}

}  // namespace
}  // namespace rped::usbtest
