// Checks of single primitive operations shared by the Wycheproof, ACVP and
// standards runners, so that every vector source exercises the crypto core
// through the same calls.
#pragma once

#include <cstddef>
#include <string_view>

#include "conformance/vector_runner.h"
#include "rped/bytes.h"
#include "rped/result.h"

namespace rped::conformance {

// HMAC-SHA-512 under `key` over `msg` against `tag`: a 64-byte tag goes through
// HmacSha512::verify, a shorter one through verify_truncated. A valid case must
// verify and the recomputed MAC must start with `tag`; an invalid case must fail
// with mac_mismatch.
CaseOutcome check_hmac_sha512(ByteView key, ByteView msg, ByteView tag, bool expect_valid);

// AES-KWP: wrap(kek, pt) == ct (KWP is deterministic) and unwrap(kek, ct) == pt.
CaseOutcome check_kwp_reproduces(ByteView kek, ByteView pt, ByteView ct);
// AES-KWP: unwrap(kek, ct) must fail.
CaseOutcome check_kwp_rejects(ByteView kek, ByteView ct);

// AES-256-CTR from `counter_block` over `in`: the leftmost `bits` bits of the
// output must equal those of `want` (ACVP payload lengths are in bits).
CaseOutcome check_aes256_ctr(ByteView key, ByteView counter_block, ByteView in, ByteView want,
                             std::size_t bits);

// A verification outcome (signature, key validation ...) against the expectation.
CaseOutcome check_verdict(std::string_view what, const Result<void>& result, bool expect_valid);

}  // namespace rped::conformance
