// The software version pedserver reports (-mode start, -mode show, logs).
#pragma once

#include <string_view>

namespace rped::pedserver {

inline constexpr std::string_view kSoftwareVersion = RPED_PEDSERVER_VERSION;

// Exit statuses (docs/pedserver.md, "Exit status").
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
// -mode start: the background server runs, but no PED was found at start; it
// keeps looking and serves the PED as soon as it appears.
inline constexpr int kExitStartedWithoutPed = 3;

}  // namespace rped::pedserver
