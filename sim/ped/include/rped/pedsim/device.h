// The PED emulator's device logic: its "firmware". One PedDevice is the
// handheld PED: an 8-line LCD, a keypad, a USB-A port where PED keys are
// inserted, and the host link (USB or, for pedsim, a Unix socket). It speaks
// the PED device protocol (protocol/include/rped/ped/device_protocol.h,
// docs/ped-device.md) and runs every documented flow.
//
// The same PedDevice serves both transports: sim/pedsim's Unix-socket server
// and the umockdev-emulated USB device of the libusb driver tests. It is never
// linked into a daemon.
//
// Thread-safety: every public member may be called from any thread. Flows run
// on the device's own firmware thread; host frames leave through the
// FrameSink, called in order from one device thread (the host link thread),
// never while holding the device's lock and never from inside a call into the
// device. detach_host() returns only once no FrameSink call is in progress
// (unless it is called from inside the FrameSink), so the transport may free
// what the sink uses right after it. The DisplaySink is called from the
// firmware thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rped/bytes.h"
#include "rped/ped/device_protocol.h"
#include "rped/result.h"

namespace rped::pedsim {

enum class Keypad : std::uint8_t {
  d0, d1, d2, d3, d4, d5, d6, d7, d8, d9,
  yes, no, enter, clear,
  back,  // '<': back / exit
  log,   // '>': log
};
std::optional<Keypad> keypad_from_name(std::string_view name) noexcept;  // "0".."9", "yes", "no", "enter", "clear", "<", ">"

struct PedDeviceOptions {
  std::string serial = "PED0000001";
  std::string firmware_version = "2.9.1-sim";
  std::string model = "PED2 (emulated)";
  // Where PED key files live; a key is "inserted" by name (file stem).
  std::filesystem::path key_directory;
  // Clock for operation timeouts; tests may shorten the documented 200 s
  // through the host's timeout_ms field.
  ped::Mode initial_mode = ped::Mode::local;
};

class PedDevice {
 public:
  using FrameSink = std::function<void(Bytes frame)>;
  using DisplaySink = std::function<void(const std::array<std::string, ped::kLcdLines>& lines)>;

  static Result<std::unique_ptr<PedDevice>> create(PedDeviceOptions options);
  virtual ~PedDevice() = default;

  // Host link. attach when the host connects (USB configured, socket
  // accepted); detach on disconnect. While detached, a running flow ends as
  // if unplugged and frames are dropped.
  virtual void attach_host(FrameSink sink) = 0;
  virtual void detach_host() = 0;
  // One whole device-protocol frame from the host.
  virtual void on_host_frame(ByteView frame) = 0;

  // The custodian.
  virtual void press(Keypad key) = 0;
  virtual Result<void> insert_key(const std::string& name) = 0;  // a file in key_directory
  virtual void remove_key() = 0;
  // Menu shortcuts the keypad also reaches: enter Remote PED mode (menu 7),
  // Admin mode, Local mode. Leaving Remote PED mode asks for confirmation
  // ("Exiting now will invalidate the RPK. Confirm? YES/NO") through the keypad.
  virtual void select_mode(ped::Mode mode) = 0;

  // What the LCD shows now, and a callback on every change.
  virtual std::array<std::string, ped::kLcdLines> lcd() const = 0;
  virtual void on_display(DisplaySink sink) = 0;
  virtual ped::Mode mode() const = 0;

  // Added for race-free waiting (custodian scripts, tests): every screen the
  // LCD shows is numbered (the first is 1) and the most recent ones are kept,
  // so a waiter also sees a screen that came and went while it was not looking.
  using ScreenMatcher = std::function<bool(const std::array<std::string, ped::kLcdLines>& lines)>;
  virtual std::uint64_t display_sequence() const = 0;  // the number of the screen shown now
  // The number of the first kept screen numbered `from` or later that
  // `matches`, waiting up to `timeout` for one; nothing on timeout. `matches`
  // runs under the device's lock: it must not call the device.
  virtual std::optional<std::uint64_t> wait_for_screen(std::uint64_t from, const ScreenMatcher& matches,
                                                       std::chrono::milliseconds timeout) const = 0;
};

}  // namespace rped::pedsim
