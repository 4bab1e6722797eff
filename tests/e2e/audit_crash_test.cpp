// Crash consistency of the audit-log daemon (issue 7 item 5): pedclient is
// killed with SIGKILL 50 times at random moments while the HSM streams audit
// records; after each restart it resumes from its last durable record
// (audit_resume). At the end the auditor verifies the whole log against the
// HSM's newest HMAC with pedaudit: no record lost, none twice (a duplicate or
// a gap breaks the chain), none altered.
#include <signal.h>

#include <atomic>
#include <random>
#include <regex>
#include <thread>

#include "e2e/e2e_fixture.h"

namespace rped::e2e::test {
namespace {

inline const std::string kPedaudit = RPED_PEDAUDIT_BINARY;

constexpr int kKills = 50;

TEST_F(E2eTest, AuditLogSurvivesFiftyKillsOfPedclientWithNothingLostOrDoubled) {
  const std::filesystem::path audit_dir = dir_.path() / "audit";
  const std::vector<std::string> client_extra{"-auditdir", audit_dir.string()};
  const std::string white = script::expect("PED Key (WHITE)") + script::present("white1");
  HsmHost& h = start_all(rpv_init_script() + script::expect("Do you wish to reuse") + "yes\n" +
                             white + script::expect("Awaiting command...") + white,
                         client_extra);
  initialize_rpv_and_connect(h);
  ASSERT_FALSE(HasFailure());
  const Ran init = cmd(h, "role init -name au");
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  const Ran login = cmd(h, "role login -name au");
  ASSERT_EQ(login.exit_code, 0) << login.out << login.err;

  // The stream: the auditor's `audit config` changes are records of their own
  // (log configuration is logged unconditionally); no PED needed.
  std::atomic<bool> done{false};
  std::atomic<int> generated{0};
  std::atomic<int> refused{0};
  std::thread generator([&] {
    for (int i = 0; !done; ++i) {
      const Ran r = cmd(h, std::string("audit config -parameter logins -value ") +
                               (i % 2 == 0 ? "both" : "failure"));
      (r.exit_code == 0 ? generated : refused)++;
    }
  });
  std::mt19937 random(20261122);
  std::uniform_int_distribution<int> pause_ms(0, 120);
  for (int kill = 0; kill < kKills; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
    ASSERT_EQ(::kill(h.pedclient->pid(), SIGKILL), 0);
    ASSERT_TRUE(h.pedclient->wait(10s));
    h.pedclient.reset();
    start_pedclient(h, client_extra);
    ASSERT_FALSE(HasFailure()) << "restart " << kill;
  }
  done = true;
  generator.join();
  EXPECT_EQ(refused.load(), 0) << "the HSM refused audit config (CKR_LOG_FULL?)";
  EXPECT_GT(generated.load(), kKills);

  // The export is a record of its own: read the head after it.
  const std::filesystem::path secret = dir_.path() / "audit.secret";
  const Ran exported = cmd(h, "audit secret export -file " + secret.string());
  ASSERT_EQ(exported.exit_code, 0) << exported.out << exported.err;

  const Ran head = cmd(h, "audit head");
  ASSERT_EQ(head.exit_code, 0) << head.out << head.err;
  std::smatch found;
  ASSERT_TRUE(std::regex_search(head.out, found, std::regex("([0-9]+):([0-9A-Fa-f]{64})")))
      << head.out;
  const std::string head_value = found[0];
  const std::uint64_t head_seq = std::stoull(found[1]);
  // The last records reach the disk asynchronously: wait for the head.
  Ran verified;
  ASSERT_TRUE(wait_until(
      [&] {
        verified = run(
            kPedaudit,
            {"verify", "-dir", audit_dir.string(), "-secret", secret.string(), "-head", head_value},
            dir_.path());
        return verified.exit_code == 0;
      },
      30s))
      << verified.out << verified.err;
  std::cout << "audit crash test: " << kKills << " kills of pedclient, " << generated.load()
            << " operator commands, log verified through record " << head_seq << "\n";
}

}  // namespace
}  // namespace rped::e2e::test
