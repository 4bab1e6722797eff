#include "conformance/primitive_checks.h"

#include <string>

#include "rped/crypto/symmetric.h"

namespace rped::conformance {

CaseOutcome check_hmac_sha512(ByteView key, ByteView msg, ByteView tag, bool expect_valid) {
  const Result<crypto::HmacSha512> mac = crypto::HmacSha512::create(key);
  if (!mac.ok()) {
    return failed("HmacSha512::create: " + describe(mac.error()));
  }
  const bool full = tag.size() == crypto::kHmacSha512Bytes;
  const Result<void> verified = full ? mac->verify({msg}, tag) : mac->verify_truncated({msg}, tag);
  const std::string_view how = full ? "verify" : "verify_truncated";
  if (!expect_valid) {
    if (verified.ok()) {
      return failed(std::string(how) + " accepted a modified tag");
    }
    if (verified.error().code != Errc::mac_mismatch) {
      return failed(std::string(how) +
                    " rejected for the wrong reason: " + describe(verified.error()));
    }
    return passed();
  }
  if (!verified.ok()) {
    return failed(std::string(how) + " rejected a valid tag: " + describe(verified.error()));
  }
  const Result<crypto::HmacSha512Tag> computed = mac->compute(msg);
  if (!computed.ok()) {
    return failed("compute: " + describe(computed.error()));
  }
  const ByteView leftmost = ByteView(computed.value()).first(tag.size());
  if (!bytes_equal(leftmost, tag)) {
    return failed(mismatch("recomputed tag", leftmost, tag));
  }
  return passed();
}

CaseOutcome check_kwp_reproduces(ByteView kek, ByteView pt, ByteView ct) {
  const Result<Bytes> wrapped = crypto::aes_kwp_wrap(kek, pt);
  if (!wrapped.ok()) {
    return failed("aes_kwp_wrap: " + describe(wrapped.error()));
  }
  if (!bytes_equal(wrapped.value(), ct)) {
    return failed(mismatch("wrapped", wrapped.value(), ct));
  }
  const Result<SecretBytes> unwrapped = crypto::aes_kwp_unwrap(kek, ct);
  if (!unwrapped.ok()) {
    return failed("aes_kwp_unwrap rejected a valid ciphertext: " + describe(unwrapped.error()));
  }
  if (!bytes_equal(unwrapped->reveal(), pt)) {
    return failed(mismatch("unwrapped", unwrapped->reveal(), pt));
  }
  return passed();
}

CaseOutcome check_kwp_rejects(ByteView kek, ByteView ct) {
  const Result<SecretBytes> unwrapped = crypto::aes_kwp_unwrap(kek, ct);
  if (unwrapped.ok()) {
    return failed("aes_kwp_unwrap accepted an invalid ciphertext, giving " +
                  to_hex(unwrapped->reveal()));
  }
  return passed();
}

CaseOutcome check_aes256_ctr(ByteView key, ByteView counter_block, ByteView in, ByteView want,
                             std::size_t bits) {
  Bytes out(in.size());
  const Result<void> done = crypto::aes256_ctr_xor(key, counter_block, in, out);
  if (!done.ok()) {
    return failed("aes256_ctr_xor: " + describe(done.error()));
  }
  if (!leftmost_bits_equal(out, want, bits)) {
    return failed(mismatch("output (leftmost " + std::to_string(bits) + " bits)", out, want));
  }
  return passed();
}

CaseOutcome check_verdict(std::string_view what, const Result<void>& result, bool expect_valid) {
  if (expect_valid && !result.ok()) {
    return failed(std::string(what) + " rejected a valid case: " + describe(result.error()));
  }
  if (!expect_valid && result.ok()) {
    return failed(std::string(what) + " accepted an invalid case");
  }
  return passed();
}

}  // namespace rped::conformance
