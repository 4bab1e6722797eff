// pedtool: the operator's and auditor's utility.
//   pedtool selftest   run the power-on self-tests and print each result
#include <cstdio>
#include <cstring>
#include <string_view>

#include "rped/selftest.h"

namespace {

constexpr const char* kUsage =
    "usage: pedtool <command>\n"
    "commands:\n"
    "  selftest   run the cryptographic power-on self-tests (known-answer tests)\n"
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
  std::fprintf(stderr, "pedtool: unknown command '%s'; allowed: selftest, help\n", argv[1]);
  return 2;
}
