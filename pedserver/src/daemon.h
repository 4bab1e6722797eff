// The pedserver daemon: what `pedserver -mode start -foreground` runs (and
// what `-mode start` runs in the background).
//
// Start-up, in this order, each failure reported precisely (and through the
// readiness pipe, so `-mode start` can print it):
//   1. the log file (an unwritable log is an error, not a silent hang);
//   2. power-on self-test of every primitive (refuses to start on failure);
//   3. the state directory and the manufacturer roots in <state>/trust/;
//   4. the listeners: -ip/-port for HSMs (IPv4 and IPv6), -admin;
//   5. the admin token file;
//   6. the PED, probed once (then looked for again every second, and on USB
//      hot-plug, whenever it is absent);
//   7. readiness reported; then the io_context runs on this thread.
//
// Serving: one HSM at a time. A connection that arrives while a session is
// active gets the Alert ped_busy and is closed; one that arrives while no PED
// is connected gets ped_unplugged. Each session is a Session (session.h).
//
// Shutdown (admin stop, SIGTERM, SIGINT): stop accepting, close the session
// with close_notify, cut it after -internalshutdowntimeout, tell the PED the
// remote session is over, remove the token file, exit 0.
//
// Thread-safety: run() owns the calling thread; everything inside runs on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "rped/config/ped_device.h"
#include "rped/service/admin.h"
#include "rped/service/launcher.h"
#include "rped/service/logging.h"
#include "rped/service/systemd.h"
#include "session.h"

namespace rped::pedserver {

// The admin commands pedserver answers (rped/service/admin.h).
namespace admin_command {
using service::admin_command::show;
using service::admin_command::stop;
inline constexpr std::string_view connect = "connect";        // -mode connect -name N
inline constexpr std::string_view disconnect = "disconnect";  // -mode disconnect -name N
}  // namespace admin_command

struct DaemonConfig final {
  std::optional<std::string> ip;  // -ip; absent: all interfaces, or loopback with -eserverport 0
  std::uint16_t port = 1503;
  std::uint16_t admin_port = 1502;
  bool external_server = true;
  bool external_admin = false;
  SessionSettings session;
  std::chrono::seconds internal_shutdown{10};
  config::PedDevice ped;
  std::chrono::microseconds ped_write_delay{0};
  service::LogOptions log;
  std::filesystem::path state_dir;
  std::filesystem::path trust_dir;  // -trustdir: the manufacturer roots (*.pem)
};

// Returns the process exit status. `manager` is systemd (systemd.h): READY=1
// where readiness is reported, STATUS= lines for the connection state,
// WATCHDOG=1 from the event loop, STOPPING=1 at shutdown, and the HSM
// listeners from socket activation (pedserver.socket) when it passed any.
int run_daemon(const DaemonConfig& config, service::ReadinessReporter readiness,
               service::ServiceManager& manager);

}  // namespace rped::pedserver
