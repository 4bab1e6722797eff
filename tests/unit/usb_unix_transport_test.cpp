// UnixSocketTransport (usbdriver/) against the PED firmware (PedDevice) on the
// far end of a Unix-domain stream socket: frames both ways, PedLink on top,
// deadlines, close, the emulator going away, and a malformed stream.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rped/ped/device_protocol.h"
#include "rped/pedsim/custodian_script.h"
#include "rped/pedsim/device.h"
#include "rped/pedsim/key_store.h"
#include "rped/usb/link_error.h"
#include "rped/usb/ped_link.h"
#include "rped/usb/unix_socket_transport.h"
#include "support/result_assertions.h"

namespace rped::usb {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::fails_with;
using test::is_ok;
using test::must;

::testing::AssertionResult fails_as(const Error& error, LinkFailure kind) {
  if (link_failure_of(error) == kind) {
    return ::testing::AssertionSuccess() << error.message;
  }
  return ::testing::AssertionFailure()
         << "failed with \"" << error.message << "\"; expected " << link_failure_prefix(kind);
}
template <typename T>
::testing::AssertionResult fails_as(const Result<T>& result, LinkFailure kind) {
  if (result.ok()) {
    return ::testing::AssertionFailure() << "succeeded; expected " << link_failure_prefix(kind);
  }
  return fails_as(result.error(), kind);
}

class TempDir final {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("rped-unix-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The emulator's end of the socket: bytes in are cut into frames for the
// PED, the PED's frames go out. (sim/pedsim has its own; this one is for tests.)
class PedSocketEnd final {
 public:
  PedSocketEnd(pedsim::PedDevice& device, int fd) : device_(device), fd_(fd) {
    device_.attach_host([this](Bytes frame) {
      const std::lock_guard lock(write_mutex_);
      std::size_t sent = 0;
      while (sent < frame.size()) {
        const ssize_t n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
          return;
        }
        sent += static_cast<std::size_t>(n);
      }
    });
    reader_ = std::thread([this] { read_loop(); });
  }
  ~PedSocketEnd() { hang_up(); }
  PedSocketEnd(const PedSocketEnd&) = delete;
  PedSocketEnd& operator=(const PedSocketEnd&) = delete;

  // The emulator goes away: its end of the socket closes.
  void hang_up() {
    if (closed_.exchange(true)) {
      return;
    }
    device_.detach_host();
    ::shutdown(fd_, SHUT_RDWR);
    reader_.join();
    ::close(fd_);
  }

 private:
  void read_loop() {
    Bytes received;
    std::uint8_t chunk[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        return;
      }
      received.insert(received.end(), chunk, chunk + n);
      while (received.size() >= 4) {
        const auto size = ped::device_frame_size(ByteView(received).first(4));
        if (!size.ok() || received.size() < size.value()) {
          break;
        }
        device_.on_host_frame(ByteView(received).first(size.value()));
        received.erase(received.begin(),
                       received.begin() + static_cast<std::ptrdiff_t>(size.value()));
      }
    }
  }

  pedsim::PedDevice& device_;
  const int fd_;
  std::mutex write_mutex_;
  std::atomic<bool> closed_{false};
  std::thread reader_;
};

SecretBytes random_secret() {
  std::random_device random;
  SecretBytes s(32);
  for (std::uint8_t& b : s.reveal_mutable()) {
    b = static_cast<std::uint8_t>(random());
  }
  return s;
}

class UnixSocketTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pedsim::KeysetSpec spec;
    spec.type = ped::KeyType::blue;
    spec.name_prefix = "so";
    spec.pins = {"4321"};
    spec.secret = so_secret_.clone();
    keyset_ = must(pedsim::write_keyset(must(pedsim::KeyDirectory::open(keys_.path())), spec));
    pedsim::PedDeviceOptions options;
    options.serial = "PED0000042";
    options.key_directory = keys_.path();
    options.initial_mode = ped::Mode::remote;
    device_ = must(pedsim::PedDevice::create(std::move(options)));
  }

  // A connected pair: the transport on one end, the PED on the other.
  std::unique_ptr<UnixSocketTransport> connect_pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ped_end_ = std::make_unique<PedSocketEnd>(*device_, fds[1]);
    return must(UnixSocketTransport::adopt(fds[0], "PED emulator (socketpair)"));
  }

  void TearDown() override {
    ped_end_.reset();
    device_.reset();
  }

  TempDir keys_;
  SecretBytes so_secret_ = random_secret();
  pedsim::WrittenKeyset keyset_;
  std::unique_ptr<pedsim::PedDevice> device_;
  std::unique_ptr<PedSocketEnd> ped_end_;
};

Bytes command(ped::Op op, std::uint32_t id, Bytes body = {}) {
  return ped::DeviceFrame{ped::FrameKind::command, op, id, std::move(body)}.serialize();
}

TEST_F(UnixSocketTransportTest, IdentifyRoundTripOverASocketpair) {
  const auto transport = connect_pair();
  ASSERT_TRUE(is_ok(transport->send(command(ped::Op::identify, 9), 2s)));
  const ped::DeviceFrame response = must(ped::DeviceFrame::parse(must(transport->receive(5s))));
  EXPECT_EQ(response.kind, ped::FrameKind::response);
  EXPECT_EQ(response.request_id, 9u);
  const auto [header, payload] = must(ped::parse_response(response.body));
  ASSERT_EQ(header.status, ped::Status::ok);
  EXPECT_EQ(must(ped::IdentifyResponse::parse(payload)).serial, "PED0000042");
}

TEST_F(UnixSocketTransportTest, ConnectsToTheEmulatorsListeningSocket) {
  TempDir dir;
  const std::filesystem::path path = dir.path() / "ped.sock";
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  std::thread accept_one([&] {
    ped_end_ = std::make_unique<PedSocketEnd>(*device_, ::accept(listener, nullptr, nullptr));
  });
  auto transport = must(UnixSocketTransport::connect(path));
  accept_one.join();
  ::close(listener);
  EXPECT_NE(transport->description().find("ped.sock"), std::string::npos);
  auto link = must(PedLink::start(std::move(transport), {}));
  const SecretBytes body = must(link->call(ped::Op::get_status, {}, 5s));
  EXPECT_EQ(must(ped::parse_response(body.reveal())).first.status, ped::Status::ok);
}

TEST_F(UnixSocketTransportTest, NothingListeningIsNotFound) {
  TempDir dir;
  EXPECT_TRUE(
      fails_as(UnixSocketTransport::connect(dir.path() / "absent.sock"), LinkFailure::not_found));
  EXPECT_TRUE(
      fails_with(UnixSocketTransport::connect(std::string(200, 'x')), Errc::invalid_argument));
}

TEST_F(UnixSocketTransportTest, LoginThroughPedLinkWithTheCustodiansKey) {
  auto link = must(PedLink::start(connect_pair(), {}));
  std::mutex mutex;
  std::condition_variable done;
  std::optional<Result<SecretBytes>> outcome;
  ped::ReadSecretRequest request;
  request.key_type = ped::KeyType::blue;
  request.context = "SO LOGIN...";
  request.timeout_ms = 20'000;
  link->call_async(ped::Op::read_secret, request.serialize(), 30s, [&](Result<SecretBytes> body) {
    const std::lock_guard lock(mutex);
    outcome.emplace(std::move(body));
    done.notify_all();
  });
  ASSERT_TRUE(is_ok(pedsim::expect_lcd(*device_, "Press ENTER.", 10s)));
  ASSERT_TRUE(is_ok(device_->insert_key(keyset_.names.at(0))));
  device_->press(pedsim::Keypad::enter);
  ASSERT_TRUE(is_ok(pedsim::expect_lcd(*device_, "Enter PED PIN:", 10s)));
  for (const pedsim::Keypad k : {pedsim::Keypad::d4, pedsim::Keypad::d3, pedsim::Keypad::d2,
                                 pedsim::Keypad::d1, pedsim::Keypad::enter}) {
    device_->press(k);
  }
  std::unique_lock lock(mutex);
  ASSERT_TRUE(done.wait_for(lock, 20s, [&] { return outcome.has_value(); }));
  ASSERT_TRUE(is_ok(*outcome));
  const auto [header, payload] = must(ped::parse_response(outcome->value().reveal()));
  ASSERT_EQ(header.status, ped::Status::ok) << header.message;
  EXPECT_TRUE(must(ped::ReadSecretResponse::parse(payload)).secret == so_secret_);
}

TEST_F(UnixSocketTransportTest, AReceiveWithNothingToReadTimesOut) {
  const auto transport = connect_pair();
  const Clock::time_point start = Clock::now();
  EXPECT_TRUE(fails_as(transport->receive(200ms), LinkFailure::timeout));
  EXPECT_GE(Clock::now() - start, 190ms);
  // Still usable.
  ASSERT_TRUE(is_ok(transport->send(command(ped::Op::get_status, 1), 2s)));
  EXPECT_TRUE(is_ok(transport->receive(5s)));
}

TEST_F(UnixSocketTransportTest, CloseEndsABlockedReceive) {
  const auto transport = connect_pair();
  std::optional<Result<Bytes>> outcome;
  std::thread reader([&] { outcome.emplace(transport->receive(20s)); });
  std::this_thread::sleep_for(100ms);
  const Clock::time_point start = Clock::now();
  transport->close();
  reader.join();
  EXPECT_LT(Clock::now() - start, 2s);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(fails_as(*outcome, LinkFailure::closed));
  EXPECT_TRUE(fails_as(transport->send(command(ped::Op::identify, 2), 1s), LinkFailure::closed));
}

TEST_F(UnixSocketTransportTest, TheEmulatorGoingAwayIsAnUnplugForPedLink) {
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<Error> disconnected;
  std::optional<Result<SecretBytes>> login;
  PedLink::Handlers handlers;
  handlers.on_disconnect = [&](const Error& reason) {
    const std::lock_guard lock(mutex);
    disconnected = reason;
    changed.notify_all();
  };
  auto link = must(PedLink::start(connect_pair(), std::move(handlers)));
  link->call_async(ped::Op::read_secret, ped::ReadSecretRequest{}.serialize(), 60s,
                   [&](Result<SecretBytes> body) {
                     const std::lock_guard lock(mutex);
                     login.emplace(std::move(body));
                     changed.notify_all();
                   });
  ASSERT_TRUE(is_ok(pedsim::expect_lcd(*device_, "Press ENTER.", 10s)));
  ped_end_->hang_up();
  std::unique_lock lock(mutex);
  ASSERT_TRUE(
      changed.wait_for(lock, 5s, [&] { return login.has_value() && disconnected.has_value(); }));
  EXPECT_TRUE(fails_as(*login, LinkFailure::unplugged));
  EXPECT_TRUE(fails_as(*disconnected, LinkFailure::unplugged));
  EXPECT_FALSE(link->connected());
}

TEST_F(UnixSocketTransportTest, AnImpossibleLengthPrefixIsAMalformedFrame) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  auto transport = must(UnixSocketTransport::adopt(fds[0], "test peer"));
  const std::uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
  ASSERT_EQ(::send(fds[1], garbage, sizeof garbage, 0), static_cast<ssize_t>(sizeof garbage));
  EXPECT_TRUE(fails_as(transport->receive(2s), LinkFailure::bad_frame));
  ::close(fds[1]);
}

TEST_F(UnixSocketTransportTest, AFrameSplitIntoSmallWritesIsReassembled) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  auto transport = must(UnixSocketTransport::adopt(fds[0], "test peer"));
  const Bytes frame =
      ped::DeviceFrame{ped::FrameKind::event, ped::Op::display, 0, Bytes(5000, 0x33)}.serialize();
  std::thread writer([&] {
    for (std::size_t at = 0; at < frame.size(); at += 777) {
      const std::size_t n = std::min<std::size_t>(777, frame.size() - at);
      ASSERT_EQ(::send(fds[1], frame.data() + at, n, 0), static_cast<ssize_t>(n));
      std::this_thread::sleep_for(1ms);
    }
  });
  EXPECT_EQ(must(transport->receive(5s)), frame);
  writer.join();
  ::close(fds[1]);
}

}  // namespace
}  // namespace rped::usb


namespace rped::usb {
namespace {

// The test plays the PED on the far end of a socketpair: it reads the command
// frames and answers only the ones it chooses.
class ScriptedPed final {
 public:
  explicit ScriptedPed(int fd) : fd_(fd) {}
  ~ScriptedPed() { ::close(fd_); }
  ScriptedPed(const ScriptedPed&) = delete;
  ScriptedPed& operator=(const ScriptedPed&) = delete;

  ped::DeviceFrame next_command() {
    Bytes frame(4);
    read_exact(frame.data(), 4);
    const std::size_t size = must(ped::device_frame_size(frame));
    frame.resize(size);
    read_exact(frame.data() + 4, size - 4);
    return must(ped::DeviceFrame::parse(frame));
  }
  void send(const ped::DeviceFrame& frame) {
    const Bytes wire = frame.serialize();
    ASSERT_EQ(::send(fd_, wire.data(), wire.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(wire.size()));
  }

 private:
  void read_exact(std::uint8_t* out, std::size_t n) {
    while (n > 0) {
      const ssize_t got = ::recv(fd_, out, n, 0);
      ASSERT_GT(got, 0) << "the link closed the socket";
      out += got;
      n -= static_cast<std::size_t>(got);
    }
  }
  const int fd_;
};

// What one async call or event callback saw, and on which thread.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> order;
  std::map<std::string, std::thread::id> thread;
  std::map<std::string, Result<SecretBytes>> results;

  PedLink::Completion completion(const std::string& name) {
    return [this, name](Result<SecretBytes> body) {
      const std::lock_guard lock(mutex);
      order.push_back(name);
      thread[name] = std::this_thread::get_id();
      results.emplace(name, std::move(body));
      changed.notify_all();
    };
  }
  bool wait_for(const std::string& name, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, limit, [&] { return thread.count(name) != 0; });
  }
};

// deliver_on_reader (pedserver's mode): an answer and an event run on the
// reader, in arrival order; deadlines still fire on the dispatcher -- also a
// short one registered while the dispatcher sleeps until a long one.
TEST(PedLinkDeliveryTest, DeliverOnReaderRunsAnswersInOrderAndStillEnforcesDeadlines) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ScriptedPed device(fds[1]);
  Seen seen;
  PedLink::Handlers handlers;
  handlers.on_event = [&seen](ped::Op, Bytes) {
    const std::lock_guard lock(seen.mutex);
    seen.order.push_back("event");
    seen.thread["event"] = std::this_thread::get_id();
    seen.changed.notify_all();
  };
  PedLinkOptions options;
  options.deliver_on_reader = true;
  auto link = must(PedLink::start(
      must(UnixSocketTransport::adopt(fds[0], "scripted PED (socketpair)")), std::move(handlers),
      options));

  link->call_async(ped::Op::get_status, {}, 60s, seen.completion("long"));
  EXPECT_EQ(device.next_command().op, ped::Op::get_status);
  std::this_thread::sleep_for(50ms);  // the dispatcher now waits for the 60 s deadline
  const auto started = Clock::now();
  link->call_async(ped::Op::get_status, {}, 100ms, seen.completion("short"));
  EXPECT_EQ(device.next_command().op, ped::Op::get_status);
  ASSERT_TRUE(seen.wait_for("short", 10s)) << "a 100 ms deadline waited for the 60 s one";
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_TRUE(fails_as(seen.results.at("short"), LinkFailure::timeout));

  link->call_async(ped::Op::get_status, {}, 10s, seen.completion("answered"));
  const ped::DeviceFrame asked = device.next_command();
  device.send(ped::DeviceFrame{ped::FrameKind::event, ped::Op::display, 0, {}});
  device.send(ped::DeviceFrame{ped::FrameKind::response, ped::Op::get_status, asked.request_id,
                            Bytes{0x00, 0x2A}});
  ASSERT_TRUE(seen.wait_for("answered", 10s));
  const std::lock_guard lock(seen.mutex);
  ASSERT_TRUE(seen.results.at("answered").ok());
  const ByteView body = seen.results.at("answered")->reveal();
  EXPECT_EQ(Bytes(body.begin(), body.end()), (Bytes{0x00, 0x2A}));
  EXPECT_EQ(seen.order, (std::vector<std::string>{"short", "event", "answered"}));
  // Both read by the reader and run there; the timeout ran on the dispatcher.
  EXPECT_EQ(seen.thread.at("answered"), seen.thread.at("event"));
  EXPECT_NE(seen.thread.at("answered"), seen.thread.at("short"));
  EXPECT_FALSE(seen.results.count("long"));
}

// The default: every callback, answers included, runs on the dispatcher.
TEST(PedLinkDeliveryTest, ByDefaultAnswersAndTimeoutsRunOnTheSameDispatcher) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ScriptedPed device(fds[1]);
  Seen seen;
  auto link = must(PedLink::start(
      must(UnixSocketTransport::adopt(fds[0], "scripted PED (socketpair)")), {}));
  link->call_async(ped::Op::get_status, {}, 60s, seen.completion("long"));
  EXPECT_EQ(device.next_command().op, ped::Op::get_status);
  std::this_thread::sleep_for(50ms);
  link->call_async(ped::Op::get_status, {}, 100ms, seen.completion("short"));
  EXPECT_EQ(device.next_command().op, ped::Op::get_status);
  ASSERT_TRUE(seen.wait_for("short", 10s)) << "a 100 ms deadline waited for the 60 s one";
  link->call_async(ped::Op::get_status, {}, 10s, seen.completion("answered"));
  const ped::DeviceFrame asked = device.next_command();
  device.send(ped::DeviceFrame{ped::FrameKind::response, ped::Op::get_status, asked.request_id,
                            Bytes{0x00}});
  ASSERT_TRUE(seen.wait_for("answered", 10s));
  const std::lock_guard lock(seen.mutex);
  EXPECT_TRUE(seen.results.at("answered").ok());
  EXPECT_EQ(seen.thread.at("answered"), seen.thread.at("short"));
}

}  // namespace
}  // namespace rped::usb
