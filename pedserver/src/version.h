// The software version pedserver reports (-mode start, -mode show, logs).
#pragma once

#include <string_view>

#include "rped/service/launcher.h"

namespace rped::pedserver {

inline constexpr std::string_view kSoftwareVersion = RPED_PEDSERVER_VERSION;

// Exit statuses (docs/pedserver.md, "Exit status").
inline constexpr int kExitOk = service::kExitOk;
inline constexpr int kExitFailure = service::kExitFailure;
// -mode start: the background server runs, but no PED was found at start; it
// keeps looking and serves the PED as soon as it appears.
inline constexpr int kExitStartedWithoutPed = service::kExitStartedDegraded;

}  // namespace rped::pedserver
