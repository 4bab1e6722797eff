#include "rped/crypto/symmetric.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>

#include "ossl.h"

namespace rped::crypto {

namespace {

// Fetched once; EVP_CIPHER / EVP_MAC objects are immutable and thread-safe.
const EVP_CIPHER* cipher(const char* name) noexcept { return EVP_CIPHER_fetch(nullptr, name, nullptr); }

const EVP_CIPHER* aes256_ctr() noexcept {
  static const EVP_CIPHER* const c = cipher("AES-256-CTR");
  return c;
}

const EVP_CIPHER* aes_kwp(std::size_t kek_bytes) noexcept {
  static const EVP_CIPHER* const kwp128 = cipher("AES-128-WRAP-PAD");
  static const EVP_CIPHER* const kwp192 = cipher("AES-192-WRAP-PAD");
  static const EVP_CIPHER* const kwp256 = cipher("AES-256-WRAP-PAD");
  switch (kek_bytes) {
    case 16: return kwp128;
    case 24: return kwp192;
    case 32: return kwp256;
    default: return nullptr;
  }
}

// EVP_*Update take int lengths; longer inputs are processed in slices.
constexpr std::size_t kMaxSlice = INT_MAX / 2;

}  // namespace

// ---------------------------------------------------------------------------
// AES-256-CTR

void EvpCipherCtxDeleter::operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }

Result<Aes256Ctr> Aes256Ctr::create(ByteView key) {
  if (key.size() != kAes256KeyBytes) {
    return make_error(Errc::invalid_length, "AES-256-CTR key has " + std::to_string(key.size()) + " bytes; 32 required");
  }
  std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
  if (!ctx || aes256_ctr() == nullptr || EVP_EncryptInit_ex2(ctx.get(), aes256_ctr(), key.data(), nullptr, nullptr) != 1) {
    return ossl::error(Errc::cipher_failed, "AES-256-CTR initialisation failed");
  }
  return Aes256Ctr(std::move(ctx));
}

Result<void> Aes256Ctr::apply(ByteView counter_block, std::initializer_list<Part> parts) {
  if (counter_block.size() != kAesBlockBytes) {
    return make_error(Errc::invalid_length,
                      "AES-CTR counter block has " + std::to_string(counter_block.size()) + " bytes; 16 required");
  }
  for (const Part& part : parts) {
    if (part.out.size() != part.in.size()) {
      return make_error(Errc::invalid_length, "AES-CTR output buffer length differs from the input length");
    }
  }
  // A new IV with no key keeps the key schedule and resets the keystream position.
  if (EVP_EncryptInit_ex2(ctx_.get(), nullptr, nullptr, counter_block.data(), nullptr) != 1) {
    return ossl::error(Errc::cipher_failed, "AES-256-CTR counter reset failed");
  }
  // SP 800-38A §B.1: OpenSSL increments the whole 128-bit block as one
  // big-endian integer, the standard incrementing function; the keystream
  // position carries over from one part to the next.
  for (const Part& part : parts) {
    for (std::size_t done = 0; done < part.in.size();) {
      const std::size_t slice = std::min(kMaxSlice, part.in.size() - done);
      int produced = 0;
      if (EVP_EncryptUpdate(ctx_.get(), part.out.data() + done, &produced, part.in.data() + done,
                            static_cast<int>(slice)) != 1 ||
          static_cast<std::size_t>(produced) != slice) {
        return ossl::error(Errc::cipher_failed, "AES-256-CTR failed");
      }
      done += slice;
    }
  }
  return {};
}

Result<void> aes256_ctr_xor(ByteView key, ByteView counter_block, ByteView in, std::span<std::uint8_t> out) {
  RPED_TRY_ASSIGN(Aes256Ctr ctr, Aes256Ctr::create(key));
  return ctr.apply(counter_block, in, out);
}

// ---------------------------------------------------------------------------
// HMAC-SHA-512

void EvpMacCtxDeleter::operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }

namespace {

using MacCtx = std::unique_ptr<EVP_MAC_CTX, EvpMacCtxDeleter>;

Result<MacCtx> keyed_hmac(Hash hash, ByteView key) {
  if (key.empty()) {
    return make_error(Errc::invalid_length, "HMAC key is empty");
  }
  static EVP_MAC* const hmac_algorithm = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (hmac_algorithm == nullptr) {
    return ossl::error(Errc::internal, "HMAC unavailable");
  }
  MacCtx ctx(EVP_MAC_CTX_new(hmac_algorithm));
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(hash_name(hash)), 0),
      OSSL_PARAM_construct_end(),
  };
  if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1) {
    return ossl::error(Errc::internal, "HMAC initialisation failed");
  }
  return ctx;
}

Result<std::size_t> mac_parts(EVP_MAC_CTX* ctx, std::initializer_list<ByteView> parts, std::span<std::uint8_t> out) {
  for (const ByteView part : parts) {
    if (!part.empty() && EVP_MAC_update(ctx, part.data(), part.size()) != 1) {
      return ossl::error(Errc::internal, "HMAC update failed");
    }
  }
  std::size_t len = 0;
  if (EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1) {
    return ossl::error(Errc::internal, "HMAC final failed");
  }
  return len;
}

}  // namespace

Result<Bytes> hmac(Hash hash, ByteView key, std::initializer_list<ByteView> parts) {
  RPED_TRY_ASSIGN(MacCtx ctx, keyed_hmac(hash, key));
  Bytes tag(digest_bytes(hash));
  RPED_TRY_ASSIGN(const std::size_t len, mac_parts(ctx.get(), parts, tag));
  tag.resize(len);
  return tag;
}

Result<HmacSha512> HmacSha512::create(ByteView key) {
  RPED_TRY_ASSIGN(MacCtx ctx, keyed_hmac(Hash::sha512, key));
  return HmacSha512(std::move(ctx));
}

Result<HmacSha512Tag> HmacSha512::compute(std::initializer_list<ByteView> parts) const {
  // No key: restart HMAC with the key already set (OpenSSL keeps it).
  if (EVP_MAC_init(keyed_.get(), nullptr, 0, nullptr) != 1) {
    return ossl::error(Errc::internal, "HMAC re-initialisation failed");
  }
  HmacSha512Tag tag{};
  RPED_TRY_ASSIGN(const std::size_t len, mac_parts(keyed_.get(), parts, tag));
  if (len != tag.size()) {
    return make_error(Errc::internal, "HMAC-SHA512 produced a short tag");
  }
  return tag;
}

Result<void> HmacSha512::verify(std::initializer_list<ByteView> parts, ByteView tag) const {
  if (tag.size() != kHmacSha512Bytes) {
    return make_error(Errc::mac_mismatch, "HMAC-SHA512 tag has " + std::to_string(tag.size()) + " bytes; 64 required");
  }
  return verify_truncated(parts, tag);
}

Result<void> HmacSha512::verify_truncated(std::initializer_list<ByteView> parts, ByteView tag) const {
  if (tag.size() < kMinTruncatedTagBytes || tag.size() > kHmacSha512Bytes) {
    return make_error(Errc::mac_mismatch, "HMAC-SHA512 tag has " + std::to_string(tag.size()) +
                                              " bytes; allowed are 4 to 64");
  }
  RPED_TRY_ASSIGN(const HmacSha512Tag expected, compute(parts));
  if (!constant_time_equal(ByteView(expected).first(tag.size()), tag)) {
    return make_error(Errc::mac_mismatch, "HMAC-SHA512 tag does not verify");
  }
  return {};
}

// ---------------------------------------------------------------------------
// AES key wrap with padding

namespace {

Result<ossl::CipherCtx> kwp_context(ByteView kek, bool wrap) {
  const EVP_CIPHER* c = aes_kwp(kek.size());
  if (c == nullptr) {
    return make_error(Errc::invalid_length, "AES-KWP key-encryption key has " + std::to_string(kek.size()) +
                                                " bytes; 32 (AES-256) required, 16 or 24 accepted for vectors");
  }
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) {
    return ossl::error(Errc::internal, "cipher context allocation failed");
  }
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  // No IV: the default alternative initial value A65959A6 || MLI (RFC 5649 §3).
  if (EVP_CipherInit_ex2(ctx.get(), c, kek.data(), nullptr, wrap ? 1 : 0, nullptr) != 1) {
    return ossl::error(Errc::internal, "AES-KWP initialisation failed");
  }
  return ctx;
}

}  // namespace

Result<Bytes> aes_kwp_wrap(ByteView kek, ByteView plaintext) {
  if (plaintext.empty() || plaintext.size() > kMaxKwpPlaintextBytes) {
    return make_error(Errc::invalid_length, "AES-KWP plaintext has " + std::to_string(plaintext.size()) +
                                                " bytes; allowed are 1 to " + std::to_string(kMaxKwpPlaintextBytes));
  }
  RPED_TRY_ASSIGN(ossl::CipherCtx ctx, kwp_context(kek, true));
  // SP 800-38F §6.3: the padded plaintext is a multiple of 8 bytes, plus an 8-byte ICV block.
  Bytes out((plaintext.size() + 7) / 8 * 8 + 8);
  int produced = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &produced, plaintext.data(), static_cast<int>(plaintext.size())) != 1 ||
      static_cast<std::size_t>(produced) != out.size()) {
    return ossl::error(Errc::cipher_failed, "AES-KWP wrap failed");
  }
  return out;
}

Result<SecretBytes> aes_kwp_unwrap(ByteView kek, ByteView wrapped) {
  if (wrapped.size() < 16 || wrapped.size() % 8 != 0 || wrapped.size() > kMaxKwpPlaintextBytes + 16) {
    return make_error(Errc::unwrap_failed, "AES-KWP ciphertext has " + std::to_string(wrapped.size()) +
                                               " bytes; it must be a multiple of 8 and at least 16");
  }
  RPED_TRY_ASSIGN(ossl::CipherCtx ctx, kwp_context(kek, false));
  // The buffer is as long as the input: on an integrity failure OpenSSL
  // cleanses inlen bytes of it (CRYPTO_128_unwrap_pad), not only the plaintext length.
  SecretBytes out(wrapped.size());
  int produced = 0;
  if (EVP_CipherUpdate(ctx.get(), out.reveal_mutable().data(), &produced, wrapped.data(),
                       static_cast<int>(wrapped.size())) != 1 ||
      produced <= 0) {
    // SP 800-38F §6.3 KWP-AD: an integrity or padding failure returns FAIL and
    // no plaintext; `out` is wiped by its destructor.
    ossl::clear_errors();
    return make_error(Errc::unwrap_failed, "AES-KWP unwrap failed the integrity check");
  }
  out.resize(static_cast<std::size_t>(produced));
  return out;
}

// ---------------------------------------------------------------------------
// Randomness

Result<void> random_bytes(std::span<std::uint8_t> out) {
  for (std::size_t done = 0; done < out.size();) {
    const std::size_t slice = std::min(kMaxSlice, out.size() - done);
    if (RAND_priv_bytes(out.data() + done, static_cast<int>(slice)) != 1) {
      return ossl::error(Errc::random_failed, "random number generator failed");
    }
    done += slice;
  }
  return {};
}

Result<SecretBytes> random_secret(std::size_t size) {
  SecretBytes s(size);
  RPED_TRY(random_bytes(s.reveal_mutable()));
  return s;
}

}  // namespace rped::crypto
