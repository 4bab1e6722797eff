// EcPublicKey::from_uncompressed (P-521 and P-224) and from_spki_der on the
// same bytes. Every key that is accepted round-trips through its encodings.
#include <cstddef>
#include <cstdint>

#include "fuzz/fixture.h"
#include "rped/crypto/ec.h"

namespace {

using rped::fuzz::require;
namespace crypto = rped::crypto;

void check_accepted(const crypto::EcPublicKey& key) {
  const rped::Bytes point = key.uncompressed();
  require(point.size() == 1 + 2 * crypto::field_bytes(key.curve()) && point[0] == 0x04,
          "accepted key has an uncompressed encoding of the curve's size");
  const auto again = crypto::EcPublicKey::from_uncompressed(key.curve(), point);
  require(again.ok() && again.value() == key, "uncompressed() parses back to the same key");
  const auto from_spki = crypto::EcPublicKey::from_spki_der(key.spki_der());
  require(from_spki.ok() && from_spki.value() == key, "spki_der() parses back to the same key");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const rped::ByteView input = rped::fuzz::input_view(data, size);
  for (const crypto::Curve curve : {crypto::Curve::p521, crypto::Curve::p224}) {
    const auto key = crypto::EcPublicKey::from_uncompressed(curve, input);
    if (key.ok()) {
      require(key.value().uncompressed() == rped::Bytes(input.begin(), input.end()),
              "from_uncompressed keeps the encoding it accepted");
      check_accepted(key.value());
    } else {
      require(key.error().code == rped::Errc::invalid_public_key,
              "a refused point is invalid_public_key");
    }
  }
  const auto spki = crypto::EcPublicKey::from_spki_der(input);
  if (spki.ok()) {
    check_accepted(spki.value());
  } else {
    require(spki.error().code == rped::Errc::invalid_encoding ||
                spki.error().code == rped::Errc::invalid_public_key,
            "a refused SPKI is invalid_encoding or invalid_public_key");
  }
  return 0;
}
