// The RpedKeyAttestation statement (docs/attestation.md §3): a hand-written
// strict DER codec. OpenSSL's template decoder accepts some BER (indefinite
// lengths, non-minimal encodings); a statement that is signed must have one
// encoding only, so this decoder refuses everything but DER (X.690 §10).
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "ossl.h"
#include "rped/attestation/pkc.h"

namespace rped::attestation {

namespace {

constexpr std::uint8_t kTagBoolean = 0x01;
constexpr std::uint8_t kTagInteger = 0x02;
constexpr std::uint8_t kTagBitString = 0x03;
constexpr std::uint8_t kTagUtf8String = 0x0C;
constexpr std::uint8_t kTagPrintableString = 0x13;
constexpr std::uint8_t kTagGeneralizedTime = 0x18;
constexpr std::uint8_t kTagSequence = 0x30;

constexpr std::int64_t kSecondsPerDay = 86400;

Error bad(std::string message) {
  return make_error(Errc::invalid_encoding, "key attestation statement: " + std::move(message));
}

// --- writer -----------------------------------------------------------------

void put_length(Bytes& out, std::size_t length) {
  if (length < 0x80) {
    out.push_back(static_cast<std::uint8_t>(length));
    return;
  }
  std::array<std::uint8_t, sizeof(std::size_t)> be{};
  std::size_t n = 0;
  for (std::size_t v = length; v != 0; v >>= 8) {
    be[n++] = static_cast<std::uint8_t>(v & 0xFF);
  }
  out.push_back(static_cast<std::uint8_t>(0x80 | n));
  while (n > 0) {
    out.push_back(be[--n]);
  }
}

Bytes tlv(std::uint8_t tag, ByteView content) {
  Bytes out;
  out.reserve(content.size() + 6);
  out.push_back(tag);
  put_length(out, content.size());
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

Bytes sequence(std::initializer_list<Bytes> parts) {
  Bytes content;
  for (const Bytes& part : parts) {
    content.insert(content.end(), part.begin(), part.end());
  }
  return tlv(kTagSequence, content);
}

Bytes integer(std::uint64_t v) {
  Bytes content;
  for (int shift = 56; shift >= 0; shift -= 8) {
    const auto b = static_cast<std::uint8_t>((v >> shift) & 0xFF);
    if (content.empty() && b == 0 && shift != 0) {
      continue;
    }
    if (content.empty() && (b & 0x80) != 0) {
      content.push_back(0);  // non-negative
    }
    content.push_back(b);
  }
  return tlv(kTagInteger, content);
}

Bytes boolean(bool v) {
  const std::array<std::uint8_t, 1> content{static_cast<std::uint8_t>(v ? 0xFF : 0x00)};
  return tlv(kTagBoolean, content);
}

Bytes string(std::uint8_t tag, std::string_view text) {
  return tlv(tag, ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

// X.690 §11.2.2: a named bit list drops its trailing zero bits.
Bytes key_usage_bits(std::uint16_t bits) {
  Bytes content{0};
  if (bits != 0) {
    int highest = 0;
    for (int i = 0; i < 16; ++i) {
      if ((bits >> i) & 1U) {
        highest = i;
      }
    }
    const std::size_t octets = static_cast<std::size_t>(highest / 8 + 1);
    content[0] = static_cast<std::uint8_t>(7 - highest % 8);
    content.resize(1 + octets, 0);
    for (int i = 0; i <= highest; ++i) {
      if ((bits >> i) & 1U) {
        content[1 + static_cast<std::size_t>(i / 8)] |= static_cast<std::uint8_t>(0x80U >> (i % 8));
      }
    }
  }
  return tlv(kTagBitString, content);
}

// --- reader -----------------------------------------------------------------

class Der final {
 public:
  explicit Der(ByteView in) : in_(in) {}
  bool at_end() const { return offset_ == in_.size(); }

  // The contents of the next element, which must have `tag`.
  Result<ByteView> expect(std::uint8_t tag, std::string_view field) {
    RPED_TRY_ASSIGN(const Element e, next(field));
    if (e.tag != tag) {
      return bad(std::string(field) + ": tag 0x" + hex(e.tag) + " where 0x" + hex(tag) +
                 " is required");
    }
    return e.contents;
  }
  // The whole next element (tag, length, contents).
  Result<ByteView> raw(std::uint8_t tag, std::string_view field) {
    const std::size_t start = offset_;
    RPED_TRY(expect(tag, field));
    return in_.subspan(start, offset_ - start);
  }

 private:
  struct Element {
    std::uint8_t tag;
    ByteView contents;
  };
  static std::string hex(std::uint8_t v) {
    constexpr char kDigits[] = "0123456789abcdef";
    return {kDigits[v >> 4], kDigits[v & 0xF]};
  }

  Result<Element> next(std::string_view field) {
    if (in_.size() - offset_ < 2) {
      return bad(std::string(field) + " is missing or truncated");
    }
    const std::uint8_t tag = in_[offset_++];
    const std::uint8_t first = in_[offset_++];
    std::size_t length = first;
    if (first == 0x80) {
      return bad(std::string(field) + ": indefinite length (DER requires a definite one)");
    }
    if (first > 0x80) {
      const std::size_t octets = first & 0x7FU;
      if (octets > 3 || in_.size() - offset_ < octets) {
        return bad(std::string(field) + ": length field too long or truncated");
      }
      length = 0;
      for (std::size_t i = 0; i < octets; ++i) {
        length = (length << 8) | in_[offset_++];
      }
      // X.690 §10.1: the fewest octets, and the long form only from 128.
      if (length < 0x80 || (octets > 1 && (length >> (8 * (octets - 1))) == 0)) {
        return bad(std::string(field) + ": length not in its shortest form");
      }
    }
    if (in_.size() - offset_ < length) {
      return bad(std::string(field) + ": length " + std::to_string(length) +
                 " runs past the end");
    }
    const ByteView contents = in_.subspan(offset_, length);
    offset_ += length;
    return Element{tag, contents};
  }

  ByteView in_;
  std::size_t offset_ = 0;
};

Result<std::uint64_t> read_integer(Der& der, std::uint64_t max, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView c, der.expect(kTagInteger, field));
  if (c.empty()) {
    return bad(std::string(field) + ": empty INTEGER");
  }
  if ((c[0] & 0x80) != 0) {
    return bad(std::string(field) + " is negative; it must be 0 to " + std::to_string(max));
  }
  if (c.size() > 1 && c[0] == 0 && (c[1] & 0x80) == 0) {
    return bad(std::string(field) + ": INTEGER not in its shortest form");
  }
  if (c.size() > 9 || (c.size() == 9 && c[0] != 0)) {
    return bad(std::string(field) + " is out of range 0 to " + std::to_string(max));
  }
  std::uint64_t v = 0;
  for (const std::uint8_t b : c) {
    v = (v << 8) | b;
  }
  if (v > max) {
    return bad(std::string(field) + " is " + std::to_string(v) + "; allowed: 0 to " +
               std::to_string(max));
  }
  return v;
}

Result<bool> read_boolean(Der& der, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView c, der.expect(kTagBoolean, field));
  // X.690 §11.1: TRUE is 0xFF in DER.
  if (c.size() != 1 || (c[0] != 0x00 && c[0] != 0xFF)) {
    return bad(std::string(field) + ": a DER BOOLEAN is one octet, 0x00 or 0xFF");
  }
  return c[0] == 0xFF;
}

// RFC 3629 UTF-8 without C0/C1 controls or DEL: these strings are shown on
// terminals and on the PED display, where control characters could rewrite
// what the custodian reads.
bool displayable_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<std::uint8_t>(s[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (b < 0x80) {
      cp = b;
    } else if (b >= 0xC2 && b <= 0xDF) {
      extra = 1;
      cp = b & 0x1FU;
    } else if (b >= 0xE0 && b <= 0xEF) {
      extra = 2;
      cp = b & 0x0FU;
    } else if (b >= 0xF0 && b <= 0xF4) {
      extra = 3;
      cp = b & 0x07U;
    } else {
      return false;
    }
    if (s.size() - i <= extra) {
      return false;
    }
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto c = static_cast<std::uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (c & 0x3FU);
    }
    const bool overlong = (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp < 0x20 ||
        (cp >= 0x7F && cp <= 0x9F)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

Result<std::string> read_text(Der& der, std::uint8_t tag, std::size_t min, std::size_t max,
                              std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView c, der.expect(tag, field));
  std::string text(c.begin(), c.end());
  if (text.size() < min || text.size() > max) {
    return bad(std::string(field) + " has " + std::to_string(text.size()) +
               " octets; allowed: " + std::to_string(min) + " to " + std::to_string(max));
  }
  if (!displayable_utf8(text)) {
    return bad(std::string(field) + " is not displayable UTF-8 (control characters are refused)");
  }
  return text;
}

bool decimal_serial(std::string_view s) {
  if (s.empty() || s.size() > kMaxSerialChars || s[0] == '0') {
    return false;
  }
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

Result<std::uint16_t> read_key_usage(Der& der) {
  RPED_TRY_ASSIGN(const ByteView c, der.expect(kTagBitString, "keyUsage"));
  if (c.empty() || c[0] > 7 || (c.size() == 1 && c[0] != 0) || c.size() > 3) {
    return bad("keyUsage: not a DER BIT STRING of at most 9 bits");
  }
  const std::uint8_t unused = c[0];
  if (c.size() > 1) {
    const std::uint8_t last = c.back();
    // DER: unused bits are zero, and a named bit list has no trailing zero bit.
    if ((last & ((1U << unused) - 1U)) != 0 || (last & (1U << unused)) == 0) {
      return bad("keyUsage: not in DER form (trailing zero bits or non-zero unused bits)");
    }
  }
  std::uint32_t bits = 0;
  for (std::size_t octet = 1; octet < c.size(); ++octet) {
    for (int bit = 0; bit < 8; ++bit) {
      if ((c[octet] & (0x80U >> bit)) != 0) {
        bits |= 1U << ((octet - 1) * 8 + static_cast<std::size_t>(bit));
      }
    }
  }
  if ((bits & ~std::uint32_t{kAllKeyUsageBits}) != 0) {
    return bad("keyUsage: bits beyond decipherOnly (8) are not defined");
  }
  return static_cast<std::uint16_t>(bits);
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? static_cast<unsigned>(-3) : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

Result<Bytes> canonical_spki(ByteView der) {
  const unsigned char* cursor = der.data();
  ossl::Pkey key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size())));
  if (!key || cursor != der.data() + der.size()) {
    ossl::clear_errors();
    return bad("subjectPublicKeyInfo does not parse as a public key");
  }
  const Bytes again = ossl::to_der(i2d_PUBKEY, key.get());
  if (again.size() != der.size() || !std::equal(again.begin(), again.end(), der.begin())) {
    return bad("subjectPublicKeyInfo is not in its DER form");
  }
  return again;
}

}  // namespace

std::string key_usage_text(std::uint16_t bits) {
  static constexpr std::array<std::string_view, 9> kNames{
      "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
      "keyCertSign",      "cRLSign",        "encipherOnly",    "decipherOnly"};
  std::string out;
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if ((bits >> i) & 1U) {
      out += (out.empty() ? "" : ", ") + std::string(kNames[i]);
    }
  }
  return out.empty() ? "(none)" : out;
}

std::string generalized_time(std::int64_t unix_time) {
  std::int64_t days = unix_time / kSecondsPerDay;
  std::int64_t secs = unix_time % kSecondsPerDay;
  if (secs < 0) {
    secs += kSecondsPerDay;
    --days;
  }
  // civil_from_days
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  char text[32];
  std::snprintf(text, sizeof text, "%04lld%02u%02u%02lld%02lld%02lldZ", static_cast<long long>(y),
                m, d, static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60));
  return text;
}

Result<std::int64_t> parse_generalized_time(std::string_view t) {
  // RFC 5280 §4.1.2.5.2 / X.690 §11.7: YYYYMMDDHHMMSSZ, no fraction.
  if (t.size() != 15 || t[14] != 'Z') {
    return bad("attestedAt must be YYYYMMDDHHMMSSZ");
  }
  for (std::size_t i = 0; i < 14; ++i) {
    if (t[i] < '0' || t[i] > '9') {
      return bad("attestedAt must be YYYYMMDDHHMMSSZ");
    }
  }
  const auto num = [&](std::size_t at, std::size_t n) {
    unsigned v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      v = v * 10 + static_cast<unsigned>(t[i] - '0');
    }
    return v;
  };
  const unsigned year = num(0, 4), month = num(4, 2), day = num(6, 2);
  const unsigned hour = num(8, 2), minute = num(10, 2), second = num(12, 2);
  static constexpr std::array<unsigned, 12> kDays{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > kDays[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 59) {
    return bad("attestedAt '" + std::string(t) + "' is not a valid time from 1970 on");
  }
  return days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 + minute * 60 + second;
}

Result<Bytes> encode_statement(const KeyAttestation& s) {
  if (s.version != kStatementVersion) {
    return make_error(Errc::invalid_argument, "only statement version 1 is defined");
  }
  if (!decimal_serial(s.hsm.serial)) {
    return make_error(Errc::invalid_argument, "the HSM serial must be 1 to 20 decimal digits");
  }
  if (s.hsm.model.empty() || s.hsm.model.size() > kMaxModelChars ||
      s.hsm.firmware_version.empty() || s.hsm.firmware_version.size() > kMaxFirmwareChars ||
      s.label.size() > kMaxLabelChars || !displayable_utf8(s.hsm.model) ||
      !displayable_utf8(s.hsm.firmware_version) || !displayable_utf8(s.label)) {
    return make_error(Errc::invalid_argument,
                      "model (1-64), firmware (1-32) and label (0-32) must be displayable UTF-8 "
                      "of the allowed lengths");
  }
  if ((s.attributes.key_usage & ~kAllKeyUsageBits) != 0 || s.attested_at < 0) {
    return make_error(Errc::invalid_argument, "key usage or attestation time out of range");
  }
  if (s.subject_public_key_info.size() > kMaxSpkiBytes) {
    return make_error(Errc::invalid_argument, "subjectPublicKeyInfo is too long");
  }
  RPED_TRY_ASSIGN(const Bytes spki, canonical_spki(s.subject_public_key_info));
  return sequence({
      integer(static_cast<std::uint64_t>(s.version)),
      sequence({string(kTagPrintableString, s.hsm.serial), string(kTagUtf8String, s.hsm.model),
                string(kTagUtf8String, s.hsm.firmware_version)}),
      sequence({integer(s.handle), string(kTagUtf8String, s.label), spki,
                sequence({boolean(s.attributes.local), boolean(s.attributes.extractable),
                          boolean(s.attributes.never_extractable),
                          key_usage_bits(s.attributes.key_usage)})}),
      string(kTagGeneralizedTime, generalized_time(s.attested_at)),
  });
}

Result<KeyAttestation> decode_statement(ByteView input) {
  KeyAttestation s;
  Der outer(input);
  RPED_TRY_ASSIGN(const ByteView top, outer.expect(kTagSequence, "RpedKeyAttestation"));
  if (!outer.at_end()) {
    return bad("trailing bytes after RpedKeyAttestation");
  }
  Der der(top);
  RPED_TRY_ASSIGN(const std::uint64_t version, read_integer(der, 255, "version"));
  if (version != kStatementVersion) {
    return bad("version " + std::to_string(version) + " is not supported; this reads version 1");
  }
  s.version = static_cast<std::int64_t>(version);
  {
    RPED_TRY_ASSIGN(const ByteView body, der.expect(kTagSequence, "hsm"));
    Der hsm(body);
    RPED_TRY_ASSIGN(s.hsm.serial,
                    read_text(hsm, kTagPrintableString, 1, kMaxSerialChars, "hsm.serialNumber"));
    if (!decimal_serial(s.hsm.serial)) {
      return bad("hsm.serialNumber must be decimal digits without a leading zero");
    }
    RPED_TRY_ASSIGN(s.hsm.model, read_text(hsm, kTagUtf8String, 1, kMaxModelChars, "hsm.model"));
    RPED_TRY_ASSIGN(s.hsm.firmware_version, read_text(hsm, kTagUtf8String, 1, kMaxFirmwareChars,
                                                      "hsm.firmwareVersion"));
    if (!hsm.at_end()) {
      return bad("trailing fields in hsm");
    }
  }
  {
    RPED_TRY_ASSIGN(const ByteView body, der.expect(kTagSequence, "key"));
    Der key(body);
    RPED_TRY_ASSIGN(const std::uint64_t handle, read_integer(key, 0xFFFFFFFFU, "key.handle"));
    s.handle = static_cast<std::uint32_t>(handle);
    RPED_TRY_ASSIGN(s.label, read_text(key, kTagUtf8String, 0, kMaxLabelChars, "key.label"));
    RPED_TRY_ASSIGN(const ByteView spki, key.raw(kTagSequence, "key.subjectPublicKeyInfo"));
    if (spki.size() > kMaxSpkiBytes) {
      return bad("key.subjectPublicKeyInfo is longer than " + std::to_string(kMaxSpkiBytes));
    }
    RPED_TRY_ASSIGN(s.subject_public_key_info, canonical_spki(spki));
    RPED_TRY_ASSIGN(const ByteView attributes, key.expect(kTagSequence, "key.attributes"));
    Der a(attributes);
    RPED_TRY_ASSIGN(s.attributes.local, read_boolean(a, "local"));
    RPED_TRY_ASSIGN(s.attributes.extractable, read_boolean(a, "extractable"));
    RPED_TRY_ASSIGN(s.attributes.never_extractable, read_boolean(a, "neverExtractable"));
    RPED_TRY_ASSIGN(s.attributes.key_usage, read_key_usage(a));
    if (!a.at_end() || !key.at_end()) {
      return bad("trailing fields in key");
    }
  }
  RPED_TRY_ASSIGN(const ByteView time, der.expect(kTagGeneralizedTime, "attestedAt"));
  RPED_TRY_ASSIGN(s.attested_at,
                  parse_generalized_time(std::string_view(
                      reinterpret_cast<const char*>(time.data()), time.size())));
  if (!der.at_end()) {
    return bad("trailing fields after attestedAt (version 1 has none)");
  }
  return s;
}

}  // namespace rped::attestation
