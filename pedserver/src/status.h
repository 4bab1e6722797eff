// What `pedserver -mode show` reports. The daemon builds one JSON document
// (status_document); the command prints it as is (-format json) or as Luna's
// aligned text (render_status_text). docs/pedserver.md lists every field.
//
// Thread-safety: StatusBoard is touched only on the daemon's io_context thread;
// the functions are pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace rped::pedserver {

using SteadyClock = std::chrono::steady_clock;

// The HSM connection being served.
struct ClientStatus final {
  std::uint64_t session_id = 0;
  std::string peer;
  std::string via;
  std::string state;  // "handshake", "waiting for the PED", "established", "closing"
  std::optional<std::uint64_t> hsm_serial;
  std::string scheme;
  SteadyClock::time_point connected_at{};
  SteadyClock::time_point last_activity{};  // last PED operation (or the connection)
  std::uint64_t operations = 0;             // PED operations the HSM side asked for
};

// Counters over the daemon's life.
struct StatusBoard final {
  SteadyClock::time_point started_at = SteadyClock::now();
  std::set<std::uint64_t> rpk_serials;  // read from orange keys during this run
  std::uint64_t sessions = 0;
  std::uint64_t refused_busy = 0;
  std::uint64_t refused_no_ped = 0;
  SteadyClock::duration finished_connection_time{0};
};

// Renders a status document (as the daemon sent it) in the Luna layout.
std::string render_status_text(const nlohmann::json& status);

// Whole seconds of a duration, for the document.
inline std::int64_t whole_seconds(SteadyClock::duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

}  // namespace rped::pedserver
