// The fault suite's main: the summary (faults injected, sessions recovered,
// records lost, secrets leaked) is printed and enforced after every test.
#include "fault/fault_fixture.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new rped::fault::test::FaultEnvironment);
  std::cout << "fault seed: " << rped::fault::test::fault_seed()
            << " (RPED_FAULT_SEED=<seed> replays the random choices)\n";
  return RUN_ALL_TESTS();
}
