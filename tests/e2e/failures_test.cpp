// Failures the HSM side sees, each through the real processes.
#include "e2e/e2e_fixture.h"

namespace rped::e2e::test {
namespace {

// (b) Nobody listens: ped connect fails at once, naming the address once.
TEST_F(E2eTest, ConnectToAPortNobodyListensOnFailsFastNamingTheAddress) {
  HsmHost& h = start_hsm(1234567);
  const std::uint16_t nobody = free_port();
  const auto started = std::chrono::steady_clock::now();
  const Ran ran = cmd(h, "ped connect -ip 127.0.0.1 -port " + std::to_string(nobody) +
                             " -password 12345678");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(ran.exit_code, 1) << ran.out << ran.err;
  EXPECT_TRUE(contains(ran.out, "CKR_UNABLE_TO_CONNECT")) << ran.out;
  const std::string where = "127.0.0.1:" + std::to_string(nobody);
  EXPECT_TRUE(contains(ran.out, where)) << ran.out;
  const std::string said = "cannot connect to the PED server at " + where;
  const auto first = ran.out.find(said);
  EXPECT_EQ(ran.out.find(said, first + 1), std::string::npos) << "named twice: " << ran.out;
  EXPECT_LT(took, 10s);
}

}  // namespace
}  // namespace rped::e2e::test
