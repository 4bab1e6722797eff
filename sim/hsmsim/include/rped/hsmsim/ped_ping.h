// `ped ping -count N`: N get_status commands from the HSM through pedclient,
// the channel, pedserver and the PED and back, one at a time, with the round
// trip of each timed here (issue 9 item 2: the round trip one PED command
// adds; scripts/bench reads the summary line).
//
//   ped ping [-count N]     N in 1..100000, default 100
//
// Prints one line per summary, machine-readable:
//   ped ping: count 1000 min_us 210 p50_us 260 p90_us 300 p99_us 420 max_us 900
// A failed round trip ends the command with that PED operation's result code.
//
// Thread-safety: as the other operator commands (serialized by the caller
// with Hsm::command_mutex()).
#pragma once

#include <cstdint>

#include "rped/hsmsim/hsm.h"

namespace rped::hsmsim {

inline constexpr std::uint32_t kPedPingDefaultCount = 100;
inline constexpr std::uint32_t kPedPingMaxCount = 100'000;

CommandResult ped_ping(Hsm& hsm, std::uint32_t count, Console& out);

}  // namespace rped::hsmsim
