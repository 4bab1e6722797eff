// Certificate::from_der and Certificate::from_pem on the same bytes; every
// certificate that parses has all its accessors exercised and is run through
// path validation against the fixture's manufacturer root.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "fuzz/fixture.h"
#include "rped/crypto/x509.h"

namespace {

using rped::fuzz::require;
namespace crypto = rped::crypto;

void exercise(const crypto::Certificate& cert, std::span<const crypto::Certificate> intermediates) {
  static_cast<void>(cert.subject());
  static_cast<void>(cert.issuer());
  static_cast<void>(cert.common_name());
  static_cast<void>(cert.serial_hex());
  static_cast<void>(cert.subject_serial_number());
  static_cast<void>(cert.allows_key_agreement());
  static_cast<void>(cert.pem());
  require(cert.sha256_fingerprint().size() == 32, "SHA-256 fingerprint is 32 bytes");
  const auto key = cert.ec_public_key();
  if (key.ok()) {
    const auto again = crypto::EcPublicKey::from_spki_der(key.value().spki_der());
    require(again.ok() && again.value() == key.value(), "certificate key round-trips through SPKI");
  }
  static_cast<void>(
      rped::fuzz::fixture().world.roots.verify(cert, intermediates, rped::fuzz::kVerificationTime));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const rped::ByteView input = rped::fuzz::input_view(data, size);
  const auto der = crypto::Certificate::from_der(input);
  if (der.ok()) {
    exercise(der.value(), {});
    const rped::Bytes encoded = der.value().der();
    require(!encoded.empty(), "a parsed certificate encodes to DER");
  } else {
    require(der.error().code == rped::Errc::certificate_invalid,
            "refused DER is certificate_invalid");
  }

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto pem = crypto::Certificate::from_pem(text);
  if (pem.ok()) {
    require(!pem.value().empty(), "from_pem succeeds only with at least one certificate");
    const std::span<const crypto::Certificate> chain(pem.value());
    exercise(chain.front(), chain.subspan(1));
  } else {
    require(pem.error().code == rped::Errc::certificate_invalid,
            "refused PEM is certificate_invalid");
  }
  return 0;
}
