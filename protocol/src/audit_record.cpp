// HSM audit-log records and their HMAC chain (rped/audit/record.h, docs/audit-log.md).
#include "rped/audit/record.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "rped/crypto/kdf.h"
#include "rped/crypto/symmetric.h"
#include "rped/wire.h"

namespace rped::audit {

namespace {

constexpr char kHexUpper[] = "0123456789ABCDEF";

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

// Upper-case only when `canonical`: a record has one encoding.
Result<void> decode_hex(std::string_view hex, std::span<std::uint8_t> out, bool canonical,
                        std::string_view field) {
  if (hex.size() != out.size() * 2) {
    return make_error(Errc::invalid_encoding, std::string(field) + " must be " +
                                                  std::to_string(out.size() * 2) + " hex digits");
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char hi = hex[2 * i];
    const char lo = hex[2 * i + 1];
    const int h = hex_value(hi);
    const int l = hex_value(lo);
    if (h < 0 || l < 0 || (canonical && ((hi >= 'a' && hi <= 'f') || (lo >= 'a' && lo <= 'f')))) {
      return make_error(Errc::invalid_encoding,
                        std::string(field) + " must be upper-case hex digits 0-9 A-F");
    }
    out[i] = static_cast<std::uint8_t>((h << 4) | l);
  }
  return {};
}

void encode_hex(ByteView bytes, char* out) {
  for (const std::uint8_t b : bytes) {
    *out++ = kHexUpper[b >> 4];
    *out++ = kHexUpper[b & 0x0F];
  }
}

}  // namespace

std::string_view category_name(Category category) noexcept {
  switch (category) {
    case Category::unconditional:
      return "unconditional";
    case Category::access:
      return "logins";
    case Category::hsm_management:
      return "hsm_management";
    case Category::key_management:
      return "key_management";
    case Category::key_usage:
      return "key_usage";
    case Category::external:
      return "external";
    case Category::log_management:
      return "log_management";
    default:
      return "unknown";
  }
}

std::optional<Category> category_from_name(std::string_view name) noexcept {
  for (std::uint8_t i = 0; i < kCategoryCount; ++i) {
    if (category_name(static_cast<Category>(i)) == name) {
      return static_cast<Category>(i);
    }
  }
  return std::nullopt;
}

std::string_view event_name(Event event) noexcept {
  switch (event) {
    case Event::login:
      return "LUNA_LOGIN";
    case Event::logout:
      return "LUNA_LOGOUT";
    case Event::hsm_init:
      return "LUNA_INIT_TOKEN";
    case Event::zeroize:
      return "LUNA_ZEROIZE";
    case Event::factory_reset:
      return "LUNA_FACTORY_RESET";
    case Event::role_init:
      return "LUNA_INIT_PIN";
    case Event::role_change_pw:
      return "LUNA_SET_PIN";
    case Event::policy_change:
      return "LUNA_SET_HSM_POLICY";
    case Event::partition_create:
      return "LUNA_CREATE_CONTAINER";
    case Event::partition_init:
      return "LUNA_INIT_CONTAINER";
    case Event::rpv_init:
      return "LUNA_INIT_RPV";
    case Event::rpv_erase:
      return "LUNA_DELETE_RPV";
    case Event::ped_connect:
      return "LUNA_PED_CONNECT";
    case Event::ped_disconnect:
      return "LUNA_PED_DISCONNECT";
    case Event::tamper:
      return "LUNA_TAMPER";
    case Event::audit_config:
      return "LUNA_LOG_SET_CONFIG";
    case Event::audit_secret_export:
      return "LUNA_LOG_EXPORT_SECRET";
    case Event::audit_log_full:
      return "LUNA_LOG_FULL";
    case Event::audit_log_resumed:
      return "LUNA_LOG_RESUMED";
    case Event::key_usage:
      return "LUNA_KEY_USAGE";
    default:
      return "LUNA_UNKNOWN_EVENT";
  }
}

// ---------------------------------------------------------------------------
// Raw data

Result<AuditEvent> AuditEvent::parse(ByteView raw) {
  Reader r(raw);
  AuditEvent e;
  RPED_TRY_ASSIGN(const std::uint8_t version, r.u8("raw version"));
  if (version != 1) {
    return make_error(Errc::invalid_encoding,
                      "raw data version " + std::to_string(version) + " is not 1");
  }
  RPED_TRY_ASSIGN(const std::uint8_t category, r.u8("raw category"));
  if (category >= kCategoryCount) {
    return make_error(Errc::invalid_encoding,
                      "raw category " + std::to_string(category) + " is unknown");
  }
  e.category = static_cast<Category>(category);
  RPED_TRY_ASSIGN(const std::uint16_t event, r.u16("raw event"));
  e.event = static_cast<Event>(event);
  RPED_TRY_ASSIGN(e.result, r.u32("raw result"));
  RPED_TRY_ASSIGN(e.role, r.u8("raw role"));
  RPED_TRY_ASSIGN(const std::uint8_t success, r.u8("raw success"));
  if (success > 1) {
    return make_error(Errc::invalid_encoding, "raw success must be 0 or 1");
  }
  e.success = success == 1;
  RPED_TRY_ASSIGN(e.seq, r.u64("raw seq"));
  RPED_TRY_ASSIGN(const std::uint64_t t, r.u64("raw time"));
  e.unix_time = static_cast<std::int64_t>(t);
  RPED_TRY_ASSIGN(e.hsm_serial, r.u64("raw serial"));
  RPED_TRY_ASSIGN(const ByteView detail, r.bytes(e.detail.size(), "raw detail"));
  std::copy(detail.begin(), detail.end(), e.detail.begin());
  RPED_TRY(r.expect_end("raw data"));
  return e;
}

std::array<std::uint8_t, kRawBytes> AuditEvent::serialize() const {
  Writer w;
  w.u8(1);
  w.u8(static_cast<std::uint8_t>(category));
  w.u16(static_cast<std::uint16_t>(event));
  w.u32(result);
  w.u8(role);
  w.u8(success ? 1 : 0);
  w.u64(seq);
  w.u64(static_cast<std::uint64_t>(unix_time));
  w.u64(hsm_serial);
  w.bytes(detail);
  const Bytes bytes = w.take();
  std::array<std::uint8_t, kRawBytes> out{};
  std::copy_n(bytes.begin(), out.size(), out.begin());
  return out;
}

// ---------------------------------------------------------------------------
// Timestamps

std::string format_timestamp(std::int64_t unix_time) {
  const std::time_t tt = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char text[32];
  std::snprintf(text, sizeof text, "%02d/%02d/%02d %02d:%02d:%02d", tm.tm_mon + 1, tm.tm_mday,
                tm.tm_year % 100, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return text;
}

Result<std::int64_t> parse_timestamp(std::string_view text) {
  const auto bad = [&] {
    return make_error(Errc::invalid_encoding,
                      "timestamp must be MM/DD/YY HH:MM:SS, a valid UTC date and time");
  };
  if (text.size() != kTimestampChars) {
    return bad();
  }
  static constexpr std::string_view kShape = "99/99/99 99:99:99";
  int fields[6] = {};
  int field = 0;
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    if (kShape[i] == '9') {
      if (text[i] < '0' || text[i] > '9') {
        return bad();
      }
      fields[field / 2] = fields[field / 2] * 10 + (text[i] - '0');
      ++field;
    } else if (text[i] != kShape[i]) {
      return bad();
    }
  }
  std::tm tm{};
  tm.tm_mon = fields[0] - 1;
  tm.tm_mday = fields[1];
  tm.tm_year = 100 + fields[2];
  tm.tm_hour = fields[3];
  tm.tm_min = fields[4];
  tm.tm_sec = fields[5];
  if (fields[0] < 1 || fields[0] > 12 || fields[1] < 1 || fields[1] > 31 || fields[3] > 23 ||
      fields[4] > 59 || fields[5] > 59) {
    return bad();
  }
  const std::int64_t t = static_cast<std::int64_t>(timegm(&tm));
  if (format_timestamp(t) != text) {  // 02/31 and the like normalise to another date
    return bad();
  }
  return t;
}

// ---------------------------------------------------------------------------
// Records

std::string hmac_hex(const HmacTag& tag) {
  std::string out(kHmacHexChars, '0');
  encode_hex(tag, out.data());
  return out;
}

Result<HmacTag> parse_hmac_hex(std::string_view hex) {
  HmacTag tag{};
  RPED_TRY(decode_hex(hex, tag, false, "HMAC"));
  return tag;
}

Result<AuditRecord> AuditRecord::parse(std::string_view line) {
  if (line.size() != kRecordBytes) {
    return make_error(Errc::invalid_encoding, "an audit record is " + std::to_string(kRecordBytes) +
                                                  " bytes with its newline, this line has " +
                                                  std::to_string(line.size()));
  }
  if (line[kRecordBytes - 1] != '\n' || line[kSeqChars] != ',' ||
      line[kTimestampOffset + kTimestampChars] != ',' || line[kPrevHmacOffset - 1] != ',' ||
      line[kRawOffset - 1] != ',') {
    return make_error(Errc::invalid_encoding,
                      "an audit record has commas at offsets 10, 28, 285, 350 and a newline at 447");
  }
  AuditRecord rec;
  // Sequence number: spaces, then 1..10 digits without a leading zero.
  const std::string_view seq = line.substr(0, kSeqChars);
  const std::size_t first_digit = seq.find_first_not_of(' ');
  if (first_digit == std::string_view::npos || seq[first_digit] == '0') {
    return make_error(Errc::invalid_encoding,
                      "sequence number must be 1 to 9999999999, right-aligned, space-padded");
  }
  for (std::size_t i = first_digit; i < kSeqChars; ++i) {
    if (seq[i] < '0' || seq[i] > '9') {
      return make_error(Errc::invalid_encoding,
                        "sequence number must be 1 to 9999999999, right-aligned, space-padded");
    }
    rec.seq = rec.seq * 10 + static_cast<std::uint64_t>(seq[i] - '0');
  }
  RPED_TRY_ASSIGN(rec.unix_time, parse_timestamp(line.substr(kTimestampOffset, kTimestampChars)));
  const std::string_view text = line.substr(kTextOffset, kTextChars);
  if (!is_printable_ascii(text)) {
    return make_error(Errc::invalid_encoding, "message text must be printable ASCII");
  }
  const std::size_t end = text.find_last_not_of(' ');
  rec.text = std::string(end == std::string_view::npos ? std::string_view{} : text.substr(0, end + 1));
  RPED_TRY(decode_hex(line.substr(kPrevHmacOffset, kHmacHexChars), rec.prev_hmac, true,
                      "previous-HMAC field"));
  RPED_TRY(decode_hex(line.substr(kRawOffset, kRawHexChars), rec.raw, true, "raw data field"));
  RPED_TRY_ASSIGN(const AuditEvent event, AuditEvent::parse(rec.raw));
  if (event.seq != rec.seq || event.unix_time != rec.unix_time) {
    return make_error(Errc::invalid_encoding,
                      "the raw data's sequence number or time differs from the record's fields");
  }
  return rec;
}

RecordLine AuditRecord::format() const {
  RecordLine line;
  line.fill(' ');
  char seq_text[kSeqChars + 1];
  std::snprintf(seq_text, sizeof seq_text, "%10llu",
                static_cast<unsigned long long>(std::min(seq, kMaxSeq)));
  std::copy_n(seq_text, kSeqChars, line.begin());
  line[kSeqChars] = ',';
  const std::string ts = format_timestamp(unix_time);
  std::copy_n(ts.begin(), kTimestampChars, line.begin() + kTimestampOffset);
  line[kTextOffset - 1] = ',';
  const std::size_t n = std::min(text.size(), kTextChars);
  for (std::size_t i = 0; i < n; ++i) {
    line[kTextOffset + i] = is_printable_ascii(text[i]) ? text[i] : '?';
  }
  line[kPrevHmacOffset - 1] = ',';
  encode_hex(prev_hmac, line.data() + kPrevHmacOffset);
  line[kRawOffset - 1] = ',';
  encode_hex(raw, line.data() + kRawOffset);
  line[kRecordBytes - 1] = '\n';
  return line;
}

Result<HmacTag> chain_hmac(const LogSecret& secret, std::string_view line, const HmacTag& prev) {
  if (line.size() != kRecordBytes) {
    return make_error(Errc::invalid_length, "chain_hmac needs a whole record line");
  }
  const auto* p = reinterpret_cast<const std::uint8_t*>(line.data());
  // docs/audit-log.md §2: message_n = line[0,286) || line[351,447), then HMAC_{n-1}.
  RPED_TRY_ASSIGN(const Bytes tag,
                  crypto::hmac(crypto::Hash::sha256, secret.reveal(),
                               {ByteView(p, kPrevHmacOffset),
                                ByteView(p + kRawOffset, kRawHexChars), ByteView(prev)}));
  HmacTag out{};
  if (tag.size() != out.size()) {
    return make_error(Errc::internal, "HMAC-SHA256 produced a tag of the wrong size");
  }
  std::copy(tag.begin(), tag.end(), out.begin());
  return out;
}

Result<RecordLine> ChainWriter::append(AuditEvent event, std::string_view text) {
  if (last_seq_ >= kMaxSeq) {
    return make_error(Errc::invalid_argument, "the audit sequence number is exhausted");
  }
  event.seq = last_seq_ + 1;
  AuditRecord rec;
  rec.seq = event.seq;
  rec.unix_time = event.unix_time;
  rec.text = std::string(text);
  rec.prev_hmac = last_hmac_;
  rec.raw = event.serialize();
  const RecordLine line = rec.format();
  RPED_TRY_ASSIGN(const HmacTag hmac,
                  chain_hmac(secret_, std::string_view(line.data(), line.size()), last_hmac_));
  last_seq_ = event.seq;
  last_hmac_ = hmac;
  return line;
}

Result<ChainHead> ChainHead::parse(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 10) {
    return make_error(Errc::invalid_argument, "a chain head is SEQ:HMAC (64 hex digits)");
  }
  ChainHead head;
  for (const char c : text.substr(0, colon)) {
    if (c < '0' || c > '9') {
      return make_error(Errc::invalid_argument, "a chain head is SEQ:HMAC (64 hex digits)");
    }
    head.seq = head.seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  std::string_view hex = text.substr(colon + 1);
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) {
    hex.remove_suffix(1);
  }
  RPED_TRY_ASSIGN(head.hmac, parse_hmac_hex(hex));
  return head;
}

std::string ChainHead::to_string() const {
  return std::to_string(seq) + ":" + hmac_hex(hmac);
}

// ---------------------------------------------------------------------------
// Verification

std::string_view fault_name(Fault fault) noexcept {
  switch (fault) {
    case Fault::none:
      return "none";
    case Fault::malformed:
      return "malformed";
    case Fault::modified:
      return "modified";
    case Fault::deleted:
      return "deleted";
    case Fault::inserted:
      return "inserted";
    case Fault::reordered:
      return "reordered";
    case Fault::truncated:
      return "truncated";
    case Fault::head_mismatch:
      return "head_mismatch";
    default:
      return "unknown";
  }
}

void ChainVerifier::fail(Fault fault, std::uint64_t seq, std::string_view location,
                         std::string why) {
  if (verdict_.fault != Fault::none) {
    return;
  }
  verdict_.fault = fault;
  verdict_.bad_seq = seq;
  verdict_.location = std::string(location);
  verdict_.why = std::move(why);
}

void ChainVerifier::check_heads(std::uint64_t seq, const HmacTag& hmac,
                                std::string_view location) {
  const auto check = [&](const std::optional<ChainHead>& head, std::string_view whose) {
    if (head && head->seq == seq && !constant_time_equal(head->hmac, hmac)) {
      fail(Fault::head_mismatch, seq, location,
           "record " + std::to_string(seq) + " does not reproduce " + std::string(whose) +
               ": the log up to it was rewritten (re-sealed) or comes from another chain");
    }
  };
  check(options_.hsm_head, "the HSM's newest HMAC");
  check(options_.external_head, "the external chain head");
}

void ChainVerifier::feed(std::string_view line, std::string_view location) {
  auto parsed = AuditRecord::parse(line);
  // A previous-HMAC mismatch at record k: the next record tells whether record
  // k-1's content or record k's own field was altered. HMAC_k computed from
  // k's field reproduces k+1's field only if that field was the HSM's HMAC_{k-1}.
  if (suspect_) {
    const Suspect s = std::move(*suspect_);
    suspect_.reset();
    if (parsed.ok() && parsed->seq == s.seq + 1 && parsed->prev_hmac == s.hmac_from_field) {
      fail(Fault::modified, s.seq - 1, s.previous_location,
           "record " + std::to_string(s.seq - 1) +
               " was modified: it does not reproduce the HMAC the HSM chained into record " +
               std::to_string(s.seq));
    } else {
      fail(Fault::modified, s.seq, s.location,
           "record " + std::to_string(s.seq) +
               " breaks the chain: its previous-HMAC field was altered, or it was forged or "
               "inserted in place of the HSM's record");
    }
  }
  if (verdict_.fault != Fault::none) {
    if (missing_ && parsed.ok() && parsed->seq == *missing_) {
      missing_seen_later_ = true;
    }
    return;
  }
  if (!parsed.ok()) {
    fail(Fault::malformed, 0, location, "not an audit record: " + parsed.error().message);
    return;
  }
  const AuditRecord& rec = parsed.value();
  if (!started_) {
    if (options_.from) {
      if (rec.seq < *options_.from) {
        return;  // before the range
      }
      if (rec.seq > *options_.from) {
        missing_ = *options_.from;
        fail(Fault::deleted, *options_.from, location,
             "record " + std::to_string(*options_.from) + " is missing: the range starts at " +
                 std::to_string(rec.seq));
        return;
      }
      prev_ = rec.prev_hmac;  // the start of a range is taken as given (as the HSM's own check)
    } else {
      if (rec.seq != 1) {
        missing_ = 1;
        fail(Fault::deleted, 1, location,
             "the log starts at record " + std::to_string(rec.seq) + ": records 1 to " +
                 std::to_string(rec.seq - 1) + " are missing (verify a later range with -from)");
        return;
      }
      if (rec.prev_hmac != HmacTag{}) {
        fail(Fault::modified, 1, location,
             "record 1 must carry 64 zeros as its previous HMAC");
        return;
      }
      prev_ = HmacTag{};
    }
    started_ = true;
    expected_ = rec.seq;
    verdict_.first_seq = rec.seq;
  }
  if (rec.seq != expected_) {
    if (rec.seq > expected_) {
      missing_ = expected_;
      fail(Fault::deleted, expected_, location,
           "record " + std::to_string(expected_) + " is missing: record " +
               std::to_string(expected_ - 1) + " is followed by record " +
               std::to_string(rec.seq));
    } else {
      fail(Fault::inserted, rec.seq, location,
           "record " + std::to_string(rec.seq) + " appears again after record " +
               std::to_string(expected_ - 1) + ": a duplicate or inserted record");
    }
    return;
  }
  if (rec.prev_hmac != prev_) {
    auto from_field = chain_hmac(secret_, line, rec.prev_hmac);
    suspect_ = Suspect{rec.seq, std::string(location), last_location_,
                       from_field.ok() ? from_field.value() : HmacTag{}};
    return;
  }
  auto hmac = chain_hmac(secret_, line, prev_);
  if (!hmac.ok()) {
    fail(Fault::malformed, rec.seq, location, hmac.error().message);
    return;
  }
  check_heads(rec.seq, hmac.value(), location);
  if (verdict_.fault != Fault::none) {
    return;
  }
  prev_ = hmac.value();
  last_location_ = std::string(location);
  ++verdict_.records;
  verdict_.last_seq = rec.seq;
  verdict_.last_hmac = hmac.value();
  ++expected_;
}

VerifyVerdict ChainVerifier::finish() {
  if (suspect_) {
    const Suspect s = std::move(*suspect_);
    suspect_.reset();
    fail(Fault::modified, s.seq - 1, s.previous_location,
         "record " + std::to_string(s.seq - 1) + " was modified, or the previous-HMAC field of "
         "the last record " + std::to_string(s.seq) + " was altered");
  }
  if (verdict_.fault == Fault::none && !started_ && options_.from) {
    fail(Fault::deleted, *options_.from, "end of log",
         "the log has no record " + std::to_string(*options_.from));
  }
  if (verdict_.fault == Fault::none) {
    const auto check = [&](const std::optional<ChainHead>& head, std::string_view whose,
                           bool beyond_is_bad) {
      if (!head || head->seq == 0) {
        return;
      }
      if (head->seq > verdict_.last_seq) {
        fail(Fault::truncated, verdict_.last_seq + 1, "end of log",
             "the log ends at record " + std::to_string(verdict_.last_seq) + " but " +
                 std::string(whose) + " is record " + std::to_string(head->seq) +
                 ": the log was truncated");
      } else if (beyond_is_bad && head->seq < verdict_.last_seq) {
        fail(Fault::inserted, head->seq + 1, "end of log",
             "the log goes on after " + std::string(whose) + " (record " +
                 std::to_string(head->seq) + "): records the HSM never wrote");
      } else if (head->seq < verdict_.first_seq) {
        // Before the verified range: not checked. Nothing to say.
      }
    };
    check(options_.hsm_head, "the HSM's newest record", true);
    check(options_.external_head, "the external chain head", false);
  }
  if (verdict_.fault == Fault::deleted && missing_seen_later_ && missing_) {
    verdict_.fault = Fault::reordered;
    verdict_.why = "record " + std::to_string(*missing_) +
                   " appears later in the log, out of order: records were reordered";
  }
  return verdict_;
}

}  // namespace rped::audit
