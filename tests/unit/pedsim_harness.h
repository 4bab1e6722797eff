// In-process harness for the PED emulator tests (tests/unit/pedsim_*_test.cpp):
//   KeyFolder  a temporary key directory, removed afterwards
//   TestHost   the host end of the device protocol: frames into
//              PedDevice::on_host_frame, responses and events collected from
//              the FrameSink
//   Custodian  a person at the PED: keys, keypad, and expect() on the LCD with
//              a deadline (never a fixed sleep)
// Header-only: the test target compiles tests/unit/*.cpp.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "rped/crypto/symmetric.h"
#include "rped/ped/device_protocol.h"
#include "rped/pedsim/custodian_script.h"
#include "rped/pedsim/device.h"
#include "rped/pedsim/key_store.h"
#include "rped/pedsim/screen.h"
#include "support/result_assertions.h"

namespace rped::pedsim::test {

using rped::test::must;

inline constexpr std::chrono::milliseconds kWait{20'000};  // generous: ASan builds are slow

class KeyFolder final {
 public:
  KeyFolder() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("rped-pedsim-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
    keys_.emplace(must(KeyDirectory::open(path_)));
  }
  ~KeyFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  KeyFolder(const KeyFolder&) = delete;
  KeyFolder& operator=(const KeyFolder&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const KeyDirectory& keys() const { return *keys_; }

  // Writes keys <prefix>1..<prefix>N holding `secret` split M of N.
  WrittenKeyset mint(ped::KeyType type, const std::string& prefix, std::uint8_t m, std::uint8_t n,
                     std::vector<std::string> pins, const SecretBytes& secret) const {
    KeysetSpec spec;
    spec.type = type;
    spec.name_prefix = prefix;
    spec.m = m;
    spec.n = n;
    spec.pins = std::move(pins);
    spec.secret = secret.clone();
    return must(write_keyset(*keys_, spec));
  }
  void blank(const std::string& name) const {
    EXPECT_TRUE(rped::test::is_ok(write_blank_key(*keys_, name)));
  }
  PedKeyRecord load(const std::string& name) const { return must(keys_->load(name)); }

 private:
  std::filesystem::path path_;
  std::optional<KeyDirectory> keys_;
};

inline SecretBytes random_secret(std::size_t size = 32) {
  return must(crypto::random_secret(size));
}

inline std::unique_ptr<PedDevice> make_device(const KeyFolder& folder,
                                              ped::Mode mode = ped::Mode::remote) {
  PedDeviceOptions options;
  options.serial = "PED-TEST-1";
  options.key_directory = folder.path();
  options.initial_mode = mode;
  return must(PedDevice::create(std::move(options)));
}

// A response split into status, message and payload.
struct Reply {
  ped::Status status = ped::Status::internal;
  std::string message;
  Bytes payload;
};

class TestHost final {
 public:
  explicit TestHost(PedDevice& device) : device_(device) { attach(); }
  ~TestHost() { device_.detach_host(); }
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  void attach() {
    // The sink shares the inbox, so a frame sent after the host went away is harmless.
    device_.attach_host([inbox = inbox_](Bytes frame) {
      auto parsed = ped::DeviceFrame::parse(frame);
      const std::lock_guard lock(inbox->mu);
      if (!parsed.ok()) {
        ++inbox->malformed;
      } else {
        inbox->frames.push_back(std::move(parsed).value());
      }
      inbox->cv.notify_all();
    });
  }
  void detach() { device_.detach_host(); }

  std::uint32_t send(ped::Op op, const Bytes& body = {}) {
    const std::uint32_t id = next_id_++;
    const ped::DeviceFrame frame{ped::FrameKind::command, op, id, body};
    device_.on_host_frame(frame.serialize());
    return id;
  }

  // The response to request `id`.
  std::optional<Reply> reply(std::uint32_t id, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(inbox_->mu);
    std::optional<ped::DeviceFrame> found;
    inbox_->cv.wait_for(lock, timeout, [&] {
      found = take_locked([&](const ped::DeviceFrame& f) {
        return f.kind == ped::FrameKind::response && f.request_id == id;
      });
      return found.has_value();
    });
    if (!found) {
      return std::nullopt;
    }
    auto header = ped::parse_response(found->body);
    EXPECT_TRUE(header.ok());
    if (!header.ok()) {
      return std::nullopt;
    }
    return Reply{header->first.status, header->first.message,
                 Bytes(header->second.begin(), header->second.end())};
  }

  // Whether any response to `id` has arrived (without waiting).
  bool has_reply(std::uint32_t id) {
    const std::lock_guard lock(inbox_->mu);
    for (const auto& f : inbox_->frames) {
      if (f.kind == ped::FrameKind::response && f.request_id == id) {
        return true;
      }
    }
    return false;
  }

  // The next event `op`, consumed.
  std::optional<ped::DeviceFrame> event(ped::Op op, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(inbox_->mu);
    std::optional<ped::DeviceFrame> found;
    inbox_->cv.wait_for(lock, timeout, [&] {
      found = take_locked(
          [&](const ped::DeviceFrame& f) { return f.kind == ped::FrameKind::event && f.op == op; });
      return found.has_value();
    });
    return found;
  }

  // Every display event received so far, consumed.
  std::vector<ped::DisplayEvent> displays() {
    std::vector<ped::DisplayEvent> out;
    const std::lock_guard lock(inbox_->mu);
    for (auto it = inbox_->frames.begin(); it != inbox_->frames.end();) {
      if (it->kind == ped::FrameKind::event && it->op == ped::Op::display) {
        out.push_back(must(ped::DisplayEvent::parse(it->body)));
        it = inbox_->frames.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  int malformed() {
    const std::lock_guard lock(inbox_->mu);
    return inbox_->malformed;
  }

 private:
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<ped::DeviceFrame> frames;
    int malformed = 0;
  };

  template <typename Predicate>
  std::optional<ped::DeviceFrame> take_locked(Predicate matches) {
    for (auto it = inbox_->frames.begin(); it != inbox_->frames.end(); ++it) {
      if (matches(*it)) {
        ped::DeviceFrame f = std::move(*it);
        inbox_->frames.erase(it);
        return f;
      }
    }
    return std::nullopt;
  }

  PedDevice& device_;
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
  std::uint32_t next_id_ = 1;
};

class Custodian final {
 public:
  explicit Custodian(PedDevice& device) : device_(device) {}

  ::testing::AssertionResult expect(std::string_view text,
                                    std::chrono::milliseconds timeout = kWait) {
    auto shown = expect_lcd(device_, text, timeout);
    if (!shown.ok()) {
      return ::testing::AssertionFailure() << shown.error().message;
    }
    return ::testing::AssertionSuccess();
  }
  void insert(const std::string& name) {
    EXPECT_TRUE(rped::test::is_ok(device_.insert_key(name))) << name;
  }
  void remove() { device_.remove_key(); }
  void press(Keypad key) { device_.press(key); }
  void enter() { press(Keypad::enter); }
  void yes() { press(Keypad::yes); }
  void no() { press(Keypad::no); }
  void digits(std::string_view text) {
    for (const char c : text) {
      press(static_cast<Keypad>(c - '0'));
    }
  }
  // Types the digits, then ENTER.
  void pin(std::string_view text) {
    digits(text);
    enter();
  }
  // Swaps to `name` at an insert prompt: remove, insert, ENTER.
  void present(const std::string& name) {
    remove();
    insert(name);
    enter();
  }
  std::string screen() const { return screen_text(device_.lcd()); }

 private:
  PedDevice& device_;
};

// Request bodies.
inline Bytes read_secret_body(ped::KeyType type, std::string context = "SLOT 01 / SO LOGIN...",
                              std::uint32_t timeout_ms = ped::kDefaultKeyOperationTimeoutMs) {
  ped::ReadSecretRequest request;
  request.key_type = type;
  request.context = std::move(context);
  request.timeout_ms = timeout_ms;
  return request.serialize();
}

inline Bytes create_keyset_body(ped::KeyType type, const SecretBytes& secret,
                                bool allow_reuse = true,
                                std::string context = "SLOT 01 / INIT TOKEN...") {
  ped::CreateKeysetRequest request;
  request.key_type = type;
  request.context = std::move(context);
  request.allow_reuse = allow_reuse;
  request.secret = secret.clone();
  return request.serialize();
}

}  // namespace rped::pedsim::test
