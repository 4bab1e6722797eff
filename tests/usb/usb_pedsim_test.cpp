// The real PED firmware (rped_pedsim_core's PedDevice) behind the emulated USB
// endpoints, driven by PedLink over LibusbTransport: identify, get_status, an
// SO login with a key the custodian inserts and a PIN typed on the keypad, a
// login nobody answers (host timeout, then cancel), and an unplug mid-login.
#if defined(RPED_HAVE_PEDSIM)

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "rped/pedsim/custodian_script.h"
#include "rped/pedsim/device.h"
#include "rped/pedsim/key_store.h"
#include "rped/usb/libusb_transport.h"
#include "rped/usb/ped_link.h"
#include "usb_test_support.h"

namespace rped::usbtest {
namespace {

using test::is_ok;
using test::must;
using usb::LinkFailure;
using usb::PedLink;

// PedDevice as the mock's device logic.
class PedFirmware final : public DeviceLogic {
 public:
  explicit PedFirmware(pedsim::PedDevice& device) : device_(device) {}
  void attach_host(FrameSink sink) override { device_.attach_host(std::move(sink)); }
  void detach_host() override { device_.detach_host(); }
  void on_host_frame(ByteView frame) override { device_.on_host_frame(frame); }

 private:
  pedsim::PedDevice& device_;
};

class TempKeyDirectory final {
 public:
  TempKeyDirectory() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("rped-usb-keys-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempKeyDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempKeyDirectory(const TempKeyDirectory&) = delete;
  TempKeyDirectory& operator=(const TempKeyDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

SecretBytes random_secret(std::size_t n = 32) {
  std::random_device random;
  SecretBytes s(n);
  for (std::uint8_t& b : s.reveal_mutable()) {
    b = static_cast<std::uint8_t>(random());
  }
  return s;
}

class UsbPedDeviceTest : public UsbFixture {
 protected:
  void SetUp() override {
    UsbFixture::SetUp();
    pedsim::KeysetSpec spec;
    spec.type = ped::KeyType::blue;
    spec.name_prefix = "so";
    spec.m = 1;
    spec.n = 1;
    spec.pins = {"123456"};
    spec.secret = so_secret_.clone();
    keyset_ = must(pedsim::write_keyset(must(pedsim::KeyDirectory::open(keys_.path())), spec));
    pedsim::PedDeviceOptions options;
    options.serial = "PED0000001";
    options.key_directory = keys_.path();
    options.initial_mode = ped::Mode::remote;
    device_ = must(pedsim::PedDevice::create(std::move(options)));
    firmware_ = std::make_unique<PedFirmware>(*device_);
  }

  void release_usb() override {
    links_.clear();
    UsbFixture::release_usb();
  }

  void TearDown() override {
    UsbFixture::TearDown();  // libusb, then the testbed (which detaches the host)
    firmware_.reset();
    device_.reset();
  }

  PedLink& start_link(PedLink::Handlers handlers = {}) {
    usb::LibusbTransportOptions options;
    options.context = context();
    links_.push_back(must(
        PedLink::start(must(usb::LibusbTransport::open(std::move(options))), std::move(handlers))));
    return *links_.back();
  }

  Bytes login_request(std::uint32_t timeout_ms = 20'000) const {
    ped::ReadSecretRequest request;
    request.key_type = ped::KeyType::blue;
    request.context = "SO LOGIN...";
    request.timeout_ms = timeout_ms;
    return request.serialize();
  }

  // The custodian: waits for the prompt, inserts so1, ENTER, types the PIN.
  ::testing::AssertionResult present_so_key() {
    if (auto shown = pedsim::expect_lcd(*device_, "Press ENTER.", 10s); !shown.ok()) {
      return ::testing::AssertionFailure() << "no key prompt: " << shown.error().message;
    }
    if (auto inserted = device_->insert_key(keyset_.names.at(0)); !inserted.ok()) {
      return ::testing::AssertionFailure() << inserted.error().message;
    }
    device_->press(pedsim::Keypad::enter);
    if (auto shown = pedsim::expect_lcd(*device_, "Enter PED PIN:", 10s); !shown.ok()) {
      return ::testing::AssertionFailure() << "no PIN prompt: " << shown.error().message;
    }
    for (const char digit : std::string("123456")) {
      device_->press(static_cast<pedsim::Keypad>(digit - '0'));
    }
    device_->press(pedsim::Keypad::enter);
    return ::testing::AssertionSuccess();
  }

  TempKeyDirectory keys_;
  SecretBytes so_secret_ = random_secret();
  pedsim::WrittenKeyset keyset_;
  std::unique_ptr<pedsim::PedDevice> device_;
  std::unique_ptr<PedFirmware> firmware_;
  std::vector<std::unique_ptr<PedLink>> links_;
};

TEST_F(UsbPedDeviceTest, IdentifyAndStatusThroughLibusb) {
  plug({}, firmware_.get());
  PedLink& link = start_link();
  const SecretBytes identify = must(link.call(ped::Op::identify, {}, 5s));
  const auto [id_header, id_payload] = must(ped::parse_response(identify.reveal()));
  ASSERT_EQ(id_header.status, ped::Status::ok) << id_header.message;
  const ped::IdentifyResponse identity = must(ped::IdentifyResponse::parse(id_payload));
  EXPECT_EQ(identity.serial, "PED0000001");
  EXPECT_EQ(identity.protocol_version, ped::kDeviceProtocolVersion);
  EXPECT_EQ(identity.mode, ped::Mode::remote);

  const SecretBytes status = must(link.call(ped::Op::get_status, {}, 5s));
  const auto [st_header, st_payload] = must(ped::parse_response(status.reveal()));
  ASSERT_EQ(st_header.status, ped::Status::ok) << st_header.message;
  const ped::StatusResponse state = must(ped::StatusResponse::parse(st_payload));
  EXPECT_EQ(state.mode, ped::Mode::remote);
  EXPECT_FALSE(state.key_inserted);
}

TEST_F(UsbPedDeviceTest, SoLoginWithTheCustodiansKeyAndPin) {
  plug({}, firmware_.get());
  PedLink& link = start_link();
  Latch<Result<SecretBytes>> login;
  link.call_async(ped::Op::read_secret, login_request(), 30s,
                  [&](Result<SecretBytes> body) { login.set(std::move(body)); });
  ASSERT_TRUE(present_so_key());
  auto body = login.wait(20s);
  ASSERT_TRUE(body.has_value()) << "no response to the login";
  ASSERT_TRUE(is_ok(*body));
  const auto [header, payload] = must(ped::parse_response(body->value().reveal()));
  ASSERT_EQ(header.status, ped::Status::ok) << header.message;
  const ped::ReadSecretResponse secret = must(ped::ReadSecretResponse::parse(payload));
  EXPECT_EQ(secret.m, 1);
  EXPECT_EQ(secret.n, 1);
  EXPECT_EQ(secret.keyset_id, keyset_.keyset_id);
  EXPECT_TRUE(secret.secret == so_secret_);
}

TEST_F(UsbPedDeviceTest, ALoginNobodyAnswersTimesOutAndCancelFreesThePed) {
  plug({}, firmware_.get());
  PedLink& link = start_link();
  const Clock::time_point start = Clock::now();
  EXPECT_TRUE(
      fails_as(link.call(ped::Op::read_secret, login_request(), 400ms), LinkFailure::timeout));
  EXPECT_GE(elapsed_ms(start), 390ms);
  // The PED still waits for a key; the host cancels, then the PED answers again.
  const SecretBytes cancelled = must(link.call(ped::Op::cancel, {}, 5s));
  EXPECT_EQ(must(ped::parse_response(cancelled.reveal())).first.status, ped::Status::ok);
  EXPECT_TRUE(eventually([&] {
    const auto status = link.call(ped::Op::get_status, {}, 2s);
    return status.ok() &&
           must(ped::parse_response(status->reveal())).first.status == ped::Status::ok;
  }));
}

TEST_F(UsbPedDeviceTest, UnplugMidLoginFailsTheCallPromptlyAndAfterReplugThePedAnswers) {
  MockUsbPed& first = plug({}, firmware_.get());
  Latch<Error> disconnected;
  PedLink::Handlers handlers;
  handlers.on_disconnect = [&](const Error& reason) { disconnected.set(reason); };
  PedLink& link = start_link(std::move(handlers));
  Latch<Result<SecretBytes>> login;
  link.call_async(ped::Op::read_secret, login_request(), 60s,
                  [&](Result<SecretBytes> body) { login.set(std::move(body)); });
  ASSERT_TRUE(is_ok(pedsim::expect_lcd(*device_, "Press ENTER.", 10s)));

  const Clock::time_point pulled = Clock::now();
  testbed_->unplug(first);
  const auto failed = login.wait(5s);
  ASSERT_TRUE(failed.has_value()) << "the login hung after the unplug";
  EXPECT_TRUE(fails_as(*failed, LinkFailure::unplugged));
  EXPECT_LT(elapsed_ms(pulled), 3s);
  ASSERT_TRUE(disconnected.wait(5s).has_value());

  plug({.address = 3}, firmware_.get());
  PedLink& fresh = start_link();
  EXPECT_TRUE(eventually([&] {
    const auto identify = fresh.call(ped::Op::identify, {}, 2s);
    return identify.ok() &&
           must(ped::parse_response(identify->reveal())).first.status == ped::Status::ok;
  }));
}

}  // namespace
}  // namespace rped::usbtest

#endif  // RPED_HAVE_PEDSIM
