// The HSM-side state machine, fed network bytes in any state it can be in.
// Input: selector(1) || chunk_shape(1) || bytes from the network; fixture.h
// (run_hsm_input) says how the selector picks scheme, start state and device
// timing, and how the chunk shape splits the bytes. Key requests are answered
// by the fixture's HSM device. Any outcome but a crash, a throw, a leak, a
// hang or a broken invariant of fixture.h's Driver is fine.
#include <cstddef>
#include <cstdint>

#include "fuzz/fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static_cast<void>(rped::fuzz::run_hsm_input(rped::fuzz::input_view(data, size)));
  return 0;
}
