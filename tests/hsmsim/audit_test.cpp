// hsmsim's audit log (docs/hsmsim.md §Audit log, docs/audit-log.md): records
// for what the HSM does, chained under its log secret; streamed to pedclient
// after audit_resume and freed only when acknowledged; kept across an
// emulator restart (a torn tail cut); CKR_LOG_FULL for everything but the
// auditor when pedclient does not take them; the auditor's commands.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "hsmsim/hsmsim_fixture.h"
#include "rped/audit/record.h"

namespace rped::hsmsim::test {
namespace {

using rped::test::is_ok;

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(10'000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// The auditor: RPV, then the white key, then a login.
void become_auditor(HsmBench& bench) {
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("role init -name au").ok()) << bench.console.text();
  ASSERT_TRUE(bench.run("role login -name au").ok()) << bench.console.text();
}

audit::LogSecret exported_secret(HsmBench& bench) {
  const std::filesystem::path file = bench.dir.path() / "log-secret.hex";
  std::filesystem::remove(file);
  const CommandResult exported = bench.run("audit secret export -file " + file.string());
  EXPECT_TRUE(exported.ok()) << exported.message;
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::ifstream in(file);
  std::string hex;
  in >> hex;
  const Bytes bytes = must(from_hex(hex));
  EXPECT_EQ(bytes.size(), audit::kLogSecretBytes);
  audit::LogSecret secret;
  std::copy(bytes.begin(), bytes.end(), secret.reveal_mutable().begin());
  return secret;
}

audit::VerifyVerdict verify(const std::vector<std::string>& lines, audit::LogSecret secret,
                            std::optional<audit::ChainHead> head) {
  audit::VerifyOptions options;
  options.hsm_head = head;
  audit::ChainVerifier verifier(std::move(secret), options);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    verifier.feed(lines[i], "line " + std::to_string(i + 1));
  }
  return verifier.finish();
}

bool any_line_has(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

TEST(HsmAudit, RecordsAreChainedStreamedAfterResumeAndVerify) {
  HsmBench bench;
  become_auditor(bench);
  EXPECT_EQ(bench.run("role login -name so").code, ResultCode::user_pin_not_initialized);
  const audit::LogSecret secret = exported_secret(bench);
  EXPECT_TRUE(bench.pedclient->audit_lines().empty()) << "nothing is streamed before audit_resume";

  const hsm::AuditResumeResponse resumed = must(bench.pedclient->resume_audit());
  EXPECT_EQ(resumed.next_seq, 1u);
  EXPECT_GE(resumed.head_seq, 5u);
  EXPECT_EQ(resumed.rotation_interval_s, 86'400u) << "the default of audit config";
  ASSERT_TRUE(eventually([&] {
    return bench.pedclient->audit_lines().size() == bench.hsm->audit_status().head.seq;
  }));
  ASSERT_TRUE(eventually([&] {
    return bench.hsm->audit_status().acknowledged == bench.hsm->audit_status().head.seq;
  })) << "the HSM frees what pedclient acknowledged";
  const AuditLogStatus status = bench.hsm->audit_status();
  EXPECT_EQ(status.unacknowledged, 0u);

  const std::vector<std::string> lines = bench.pedclient->audit_lines();
  const audit::VerifyVerdict verdict = verify(lines, secret.clone(), status.head);
  EXPECT_TRUE(verdict.ok()) << verdict.why;
  EXPECT_EQ(verdict.records, lines.size());
  for (const std::string& line : lines) {
    ASSERT_EQ(line.size(), audit::kRecordBytes);
  }
  // Who, what, the result: a failed SO login (no SO yet), the auditor's creation (unconditional) and login.
  EXPECT_TRUE(any_line_has(lines, "role none LUNA_INIT_PIN -name au returned CKR_OK(0x00000000)"));
  EXPECT_TRUE(any_line_has(lines, "role none LUNA_LOGIN -name au returned CKR_OK(0x00000000)"));
  EXPECT_TRUE(any_line_has(
      lines, "role au LUNA_LOGIN -name so returned CKR_USER_PIN_NOT_INITIALIZED(0x00000102)"));
  EXPECT_TRUE(any_line_has(lines, "LUNA_INIT_RPV"));

  // Records made while streaming follow at once; a disabled category is not logged.
  ASSERT_TRUE(bench.run("audit config -parameter logins -value failure").ok());
  ASSERT_TRUE(bench.run("role logout").ok());
  EXPECT_EQ(bench.run("role logout").code, ResultCode::user_not_logged_in);
  const std::uint64_t head = bench.hsm->audit_status().head.seq;
  ASSERT_TRUE(eventually([&] { return bench.pedclient->audit_lines().size() == head; }));
  const std::vector<std::string> more = bench.pedclient->audit_lines();
  EXPECT_TRUE(any_line_has(more, "LUNA_LOG_SET_CONFIG -parameter logins -value failure"));
  EXPECT_TRUE(any_line_has(more, "LUNA_LOGOUT returned CKR_USER_NOT_LOGGED_IN"));
  EXPECT_FALSE(any_line_has(more, "role au LUNA_LOGOUT returned CKR_OK"))
      << "successful logins/logouts are off now";
  const audit::VerifyVerdict again = verify(more, secret.clone(), bench.hsm->audit_status().head);
  EXPECT_TRUE(again.ok()) << again.why;
}

TEST(HsmAudit, AuditorCommandsNeedTheAuditor) {
  HsmBench bench;
  EXPECT_EQ(bench.run("audit config -parameter logins -value both").code,
            ResultCode::user_not_logged_in);
  EXPECT_EQ(bench.run("audit secret export -file " + (bench.dir.path() / "s").string()).code,
            ResultCode::user_not_logged_in);
  EXPECT_FALSE(std::filesystem::exists(bench.dir.path() / "s"));
  EXPECT_TRUE(bench.run("audit show").ok());
  EXPECT_TRUE(bench.run("audit head").ok());
  EXPECT_NE(bench.console.text().find("Audit chain head: "), std::string::npos);
  EXPECT_EQ(bench.run("audit config -parameter nonsense -value 1").code,
            ResultCode::user_not_logged_in);
}

TEST(HsmAudit, FullLogRefusesAllButTheAuditorUntilPedclientTakesTheRecords) {
  HsmTimings timings = fast_timings();
  timings.audit_capacity = 12;
  HsmBench bench(1234567, timings);
  become_auditor(bench);
  ASSERT_TRUE(bench.run("role logout").ok());
  // pedclient never resumed: records pile up until the log is full.
  ResultCode code = ResultCode::ok;
  for (int i = 0; i < 20 && code == ResultCode::ok; ++i) {
    code = bench.run("ped set -ip 10.0.0.5 -port 1503").code;
  }
  ASSERT_EQ(code, ResultCode::log_full);
  EXPECT_TRUE(bench.hsm->audit_status().full);
  EXPECT_EQ(bench.run("hsm init -label L").code, ResultCode::log_full);
  EXPECT_EQ(bench.run("role login -name so").code, ResultCode::log_full);
  EXPECT_EQ(bench.run("ped connect -ip 127.0.0.1 -port 1503").code, ResultCode::log_full);
  // The auditor still logs in and works (the reserve takes the records).
  ASSERT_TRUE(bench.run("role login -name au").ok()) << bench.console.text();
  EXPECT_TRUE(bench.run("audit show").ok());
  EXPECT_NE(bench.console.text().find("(FULL)"), std::string::npos);
  const audit::LogSecret secret = exported_secret(bench);
  ASSERT_TRUE(bench.run("role logout").ok());

  // pedclient comes back but its disk is full: nothing is acknowledged, still full.
  bench.pedclient->ack_audit = false;
  ASSERT_TRUE(is_ok(bench.pedclient->resume_audit()));
  ASSERT_TRUE(eventually([&] { return bench.pedclient->audit_batches() >= 2; }))
      << "the HSM keeps offering the records";
  EXPECT_TRUE(bench.hsm->audit_status().full);
  EXPECT_EQ(bench.run("ped set -ip 10.0.0.5 -port 1503").code, ResultCode::log_full);

  // Space returns: everything is taken, the log has room again.
  bench.pedclient->ack_audit = true;
  ASSERT_TRUE(eventually([&] { return !bench.hsm->audit_status().full; }));
  EXPECT_TRUE(bench.run("ped set -ip 10.0.0.5 -port 1503").ok());
  const std::uint64_t head = bench.hsm->audit_status().head.seq;
  ASSERT_TRUE(eventually([&] { return bench.pedclient->audit_lines().size() == head; }));
  const audit::VerifyVerdict verdict =
      verify(bench.pedclient->audit_lines(), secret.clone(), bench.hsm->audit_status().head);
  EXPECT_TRUE(verdict.ok()) << verdict.why;
}

TEST(HsmAudit, UnacknowledgedRecordsSurviveARestartAndATornTail) {
  HsmBench bench;
  become_auditor(bench);
  const audit::LogSecret secret = exported_secret(bench);
  ASSERT_TRUE(bench.run("role logout").ok());
  const audit::ChainHead before = bench.hsm->audit_status().head;
  ASSERT_GE(before.seq, 5u);

  bench.stop();
  // A crash in the middle of a record: a torn tail.
  {
    std::ofstream tail(bench.dir.path() / "state" / "audit.buffer", std::ios::app);
    tail << std::string(100, 'x');
  }
  bench.start(1234567, fast_timings());
  const audit::ChainHead after = bench.hsm->audit_status().head;
  EXPECT_EQ(after.seq, before.seq);
  EXPECT_EQ(after.hmac, before.hmac) << "the head is recomputed from the buffer";
  EXPECT_EQ(std::filesystem::file_size(bench.dir.path() / "state" / "audit.buffer") %
                audit::kRecordBytes,
            0u);

  ASSERT_TRUE(is_ok(bench.pedclient->resume_audit()));
  ASSERT_TRUE(eventually([&] { return bench.pedclient->audit_lines().size() == after.seq; }));
  // The chain goes on across the restart with the same secret.
  ASSERT_TRUE(bench.run("ped set -ip 10.0.0.9 -port 1503").ok());
  const audit::ChainHead newest = bench.hsm->audit_status().head;
  ASSERT_TRUE(eventually([&] { return bench.pedclient->audit_lines().size() == newest.seq; }));
  const audit::VerifyVerdict verdict = verify(bench.pedclient->audit_lines(), secret.clone(), newest);
  EXPECT_TRUE(verdict.ok()) << verdict.why;
  EXPECT_EQ(verdict.records, newest.seq);
}

}  // namespace
}  // namespace rped::hsmsim::test
