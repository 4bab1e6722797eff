// Power-on self-tests: a known-answer test of every primitive the protocol
// uses, as a FIPS 140-3 module runs at start-up (FIPS 140-3 IG 10.3.A). Both
// daemons refuse to start when any fails; `pedtool selftest` runs them on demand.
//
// Thread-safety: pure function.
#pragma once

#include <string>
#include <vector>

#include "rped/result.h"

namespace rped {

struct SelfTestOutcome {
  std::string name;
  bool passed = false;
  std::string detail;  // failure reason; empty on success
};

std::vector<SelfTestOutcome> run_self_tests();

// All self-tests, reduced to one result (self_test_failed names the first failure).
Result<void> power_on_self_test();

}  // namespace rped
