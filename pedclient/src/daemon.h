// The pedclient daemon: what `pedclient -mode start -foreground` runs (and
// what `-mode start` runs in the background).
//
// Start-up, in this order, each failure reported precisely (and through the
// readiness pipe, so `-mode start` can print it):
//   1. the log file;
//   2. power-on self-test of every primitive (refuses to start on failure);
//   3. the state directory, the admin listener and its token file;
//   4. the audit-log store (-auditdir): resumes after its last durable record;
//   5. the HSM, through its backend socket (-hsm): when it is not there the
//      daemon still starts (exit status 3 of -mode start) and attaches as
//      soon as it appears, looking every second;
//   6. readiness reported; then the io_context runs on this thread.
//
// Serving (docs/pedclient.md): one Remote PED connection for the HSM at a
// time (RemotePed), opened when the HSM asks (`ped connect`) or by
// `-mode assignid`, closed when the HSM asks (`ped disconnect`), by
// `-mode releaseid`, or when it ends by itself (PED unplugged, custodian left
// Remote PED mode, network, idle timeout) -- then the HSM is told why.
//
// Shutdown (admin stop, SIGTERM, SIGINT): stop accepting, close the link with
// close_notify, cut it after -shutdowntimeout, remove the token file, exit 0.
//
// Thread-safety: run_daemon() owns the calling thread; everything inside runs
// on it, except the blocking HSM calls, which run on one worker thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "rped/pedclient/audit_store.h"
#include "rped/service/admin.h"
#include "rped/service/channel_connection.h"
#include "rped/service/launcher.h"
#include "rped/service/logging.h"
#include "rped/service/systemd.h"

namespace rped::pedclient {

inline constexpr std::string_view kSoftwareVersion = RPED_PEDCLIENT_VERSION;

// The admin commands pedclient answers (rped/service/admin.h).
namespace admin_command {
using service::admin_command::show;
using service::admin_command::stop;
inline constexpr std::string_view assignid = "assignid";    // {"id":N,"serial":S}
inline constexpr std::string_view releaseid = "releaseid";  // {"id":N} or {"serial":S}
inline constexpr std::string_view testid = "testid";        // {"id":N}
}  // namespace admin_command

struct DaemonConfig final {
  std::filesystem::path hsm_socket;
  std::uint16_t admin_port = 1504;
  bool external_admin = false;
  std::uint16_t peer_port = 9697;  // PED-initiated listener (-peerport, -epeer)
  bool external_peer = true;
  service::ChannelTimeouts link;
  std::chrono::milliseconds ped_timeout{200'000};  // assignid, testid
  std::chrono::seconds shutdown{10};
  service::LogOptions log;
  AuditStoreOptions audit;
  std::filesystem::path state_dir;
};

// Returns the process exit status.
// `manager` speaks sd_notify when systemd runs the daemon (READY, STATUS,
// WATCHDOG, STOPPING); a no-op otherwise.
int run_daemon(const DaemonConfig& config, service::ReadinessReporter readiness,
               service::ServiceManager& manager);

}  // namespace rped::pedclient
