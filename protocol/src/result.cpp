#include "rped/result.h"

namespace rped {

std::string_view errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::invalid_length: return "invalid_length";
    case Errc::invalid_encoding: return "invalid_encoding";
    case Errc::invalid_public_key: return "invalid_public_key";
    case Errc::invalid_private_key: return "invalid_private_key";
    case Errc::key_agreement_failed: return "key_agreement_failed";
    case Errc::kdf_failed: return "kdf_failed";
    case Errc::cipher_failed: return "cipher_failed";
    case Errc::mac_mismatch: return "mac_mismatch";
    case Errc::unwrap_failed: return "unwrap_failed";
    case Errc::signature_invalid: return "signature_invalid";
    case Errc::certificate_invalid: return "certificate_invalid";
    case Errc::chain_untrusted: return "chain_untrusted";
    case Errc::random_failed: return "random_failed";
    case Errc::self_test_failed: return "self_test_failed";
    case Errc::unplugged: return "unplugged";
    case Errc::timeout: return "timeout";
    case Errc::io_failed: return "io_failed";
    case Errc::closed: return "closed";
    case Errc::not_found: return "not_found";
    case Errc::busy: return "busy";
    case Errc::internal: return "internal";
    default: return "unknown";
  }
}

}  // namespace rped
