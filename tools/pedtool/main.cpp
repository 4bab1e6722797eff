// pedtool: the operator's and auditor's utility.
//   pedtool selftest   run the power-on self-tests and print each result
//   pedtool pkc verify|show ...   HSM public key confirmations (pkc_command.h)
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "pkc_command.h"
#include "rped/selftest.h"

namespace {

constexpr const char* kUsage =
    "usage: pedtool <command>\n"
    "commands:\n"
    "  selftest   run the cryptographic power-on self-tests (known-answer tests)\n"
    "  pkc verify -inputfile F [-root ROOT.pem] [-csr REQ.pem] [-pin SHA256]\n"
    "             verify an HSM public key confirmation (docs/attestation.md)\n"
    "  pkc show -inputfile F\n"
    "             print a PKC decoded (not verified)\n"
    "  help       show this text\n";

int run_selftest() {
  int failures = 0;
  for (const rped::SelfTestOutcome& outcome : rped::run_self_tests()) {
    std::printf("%-52s %s\n", outcome.name.c_str(), outcome.passed ? "PASS" : "FAIL");
    if (!outcome.passed) {
      ++failures;
      std::printf("    %s\n", outcome.detail.c_str());
    }
  }
  std::printf("self-test: %s (%d failed)\n", failures == 0 ? "PASSED" : "FAILED", failures);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "pkc") {
    const std::vector<std::string> args(argv + 2, argv + argc);
    return rped::pedtool::run_pkc(args);
  }
  if (argc != 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "selftest") {
    return run_selftest();
  }
  if (command == "help" || command == "-help" || command == "--help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "pedtool: unknown command '%s'; allowed: selftest, pkc, help\n", argv[1]);
  return 2;
}
