// The PKC parsers and verifier (rped/attestation/pkc.h, docs/attestation.md):
//   selector(1) || bytes; selector even: decode_statement, odd: parse_pkc and verify_pkc.
// Invariants: an accepted statement re-encodes to exactly the input (one DER
// encoding); verification reports every check (8 without a CSR); a bundle
// parse_pkc refuses fails "structure"; ok() only when every check passed.
// The bundle is verified against the fixture's root and, pinned-fingerprint
// mode, against the first certificate it carries, so a genuine seed bundle
// (corpus/fuzz_pkc, from hsmsim) reaches the signer, time and attribute checks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/fixture.h"
#include "rped/attestation/pkc.h"

namespace {

using rped::fuzz::require;
namespace attestation = rped::attestation;

void check_verdict(const attestation::PkcVerification& v, bool parsed) {
  require(v.checks.size() == 8, "verification reports every check");
  require(parsed || (v.checks[0].name == "structure" && !v.checks[0].passed),
          "an unparsable bundle fails the structure check");
  const bool all = std::all_of(v.checks.begin(), v.checks.end(),
                               [](const attestation::PkcCheck& c) { return c.passed; });
  require(v.ok() == all, "ok() is every check passed");
  require(!v.ok() || v.statement.has_value(), "a verified bundle has its statement");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const rped::ByteView input = rped::fuzz::input_view(data, size).subspan(1);
  if (data[0] % 2 == 0) {
    const auto statement = attestation::decode_statement(input);
    if (statement.ok()) {
      const auto again = attestation::encode_statement(statement.value());
      require(again.ok(), "a decoded statement encodes");
      require(std::equal(again.value().begin(), again.value().end(), input.begin(), input.end()),
              "a decoded statement re-encodes to its input");
    } else {
      require(statement.error().code == rped::Errc::invalid_encoding,
              "a refused statement is invalid_encoding");
    }
    return 0;
  }
  const auto contents = attestation::parse_pkc(input);
  const rped::crypto::Certificate& root = rped::fuzz::fixture().world.root;
  check_verdict(attestation::verify_pkc(input, std::span(&root, 1), {}), contents.ok());
  if (contents.ok() && !contents.value().certificates.empty()) {
    attestation::VerifyOptions pinned;
    pinned.pinned_hoc_sha256 = contents.value().certificates.front().sha256_fingerprint();
    check_verdict(attestation::verify_pkc(input, {}, pinned), true);
  }
  return 0;
}
