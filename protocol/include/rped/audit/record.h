// HSM audit-log records and their HMAC chain (docs/audit-log.md, issue 7).
//
// One record is one fixed-length, comma-delimited, newline-terminated line of
// kRecordBytes = 448 bytes, as the Luna documentation describes it:
//
//   offset size field
//   0      10   sequence number, decimal, right-aligned, space-padded (1 .. 9999999999)
//   10     1    ','
//   11     17   timestamp "MM/DD/YY HH:MM:SS" (UTC)
//   28     1    ','
//   29     256  message text interpreted from the raw data, printable ASCII, space-padded
//   285    1    ','
//   286    64   HMAC of the previous record, upper-case hex (64 '0' before the first record)
//   350    1    ','
//   351    96   raw data of this record (AuditEvent, 48 bytes), upper-case hex
//   447    1    '\n'
//
// The chain (docs/audit-log.md §2): with the HSM's 256-bit log secret K,
//
//   message_n = line_n[0, 286) || line_n[351, 447)      every byte but the previous-HMAC
//                                                       field, its comma and the newline
//   HMAC_n    = HMAC-SHA256(K, message_n || HMAC_{n-1}) HMAC_0 = 32 zero bytes
//
// and record n+1 carries hex(HMAC_n) in its previous-HMAC field. The HSM keeps
// the newest HMAC (the chain head), so a log whose last record does not
// reproduce it was truncated; a head anchored outside the log file (`audit
// head`) defeats re-sealing old records with a leaked secret (the lesson of
// journald's CVE-2023-31439).
//
// Pure: no I/O. Thread-safety: value types; ChainVerifier is used by one thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rped/bytes.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::audit {

inline constexpr std::size_t kRecordBytes = 448;
inline constexpr std::size_t kSeqChars = 10;
inline constexpr std::size_t kTimestampChars = 17;
inline constexpr std::size_t kTextChars = 256;
inline constexpr std::size_t kHmacHexChars = 64;
inline constexpr std::size_t kRawHexChars = 96;
inline constexpr std::size_t kRawBytes = kRawHexChars / 2;
inline constexpr std::size_t kHmacBytes = 32;
inline constexpr std::size_t kLogSecretBytes = 32;
inline constexpr std::uint64_t kMaxSeq = 9'999'999'999ULL;  // ten decimal digits

// Field offsets (see the table above).
inline constexpr std::size_t kTimestampOffset = kSeqChars + 1;                  // 11
inline constexpr std::size_t kTextOffset = kTimestampOffset + kTimestampChars + 1;  // 29
inline constexpr std::size_t kPrevHmacOffset = kTextOffset + kTextChars + 1;    // 286
inline constexpr std::size_t kRawOffset = kPrevHmacOffset + kHmacHexChars + 1;  // 351
static_assert(kRawOffset + kRawHexChars + 1 == kRecordBytes);

using HmacTag = std::array<std::uint8_t, kHmacBytes>;
using LogSecret = SecretArray<kLogSecretBytes>;
using RecordLine = std::array<char, kRecordBytes>;

// Event categories (docs/audit-log.md §3); `audit config` selects which are logged.
enum class Category : std::uint8_t {
  unconditional = 0,     // tamper, decommission, zeroization, SO creation, audit role creation
  access = 1,            // logins and logouts
  hsm_management = 2,    // init, policies, RPV, PED connection
  key_management = 3,    // key creation, deletion
  key_usage = 4,         // asymmetric / symmetric key usage
  external = 5,          // messages from outside (CA_LogExternal)
  log_management = 6,    // audit configuration, secret export
};
inline constexpr std::uint8_t kCategoryCount = 7;
std::string_view category_name(Category category) noexcept;
std::optional<Category> category_from_name(std::string_view name) noexcept;

// What happened (the `what` of a message, Luna event names).
enum class Event : std::uint16_t {
  login = 1,
  logout = 2,
  hsm_init = 10,
  zeroize = 11,
  factory_reset = 12,
  role_init = 13,
  role_change_pw = 14,
  policy_change = 15,
  partition_create = 16,
  partition_init = 17,
  rpv_init = 20,
  rpv_erase = 21,
  ped_connect = 22,
  ped_disconnect = 23,
  tamper = 30,
  audit_config = 40,
  audit_secret_export = 41,
  audit_log_full = 42,
  audit_log_resumed = 43,
  key_usage = 50,
};
std::string_view event_name(Event event) noexcept;  // "LUNA_LOGIN", ...

// The raw data of a record: 48 bytes, big-endian.
//   version(1)=1 category(1) event(2) result(4, CK_RV) role(1) success(1)
//   seq(8) unix_time(8) hsm_serial(8) detail(14, event-specific, e.g. policy id and value)
struct AuditEvent {
  Category category = Category::unconditional;
  Event event = Event::login;
  std::uint32_t result = 0;  // CK_RV
  std::uint8_t role = 0;     // 0: none; else hsmsim::Role
  bool success = true;
  std::uint64_t seq = 0;
  std::int64_t unix_time = 0;
  std::uint64_t hsm_serial = 0;
  std::array<std::uint8_t, 14> detail{};

  static Result<AuditEvent> parse(ByteView raw);
  std::array<std::uint8_t, kRawBytes> serialize() const;
};

// One record, its fields decoded.
struct AuditRecord {
  std::uint64_t seq = 0;
  std::int64_t unix_time = 0;  // from the timestamp field (UTC); 2000..2099 (two-digit year)
  std::string text;            // without the padding
  HmacTag prev_hmac{};
  std::array<std::uint8_t, kRawBytes> raw{};

  // Exactly kRecordBytes, ending in '\n'; every field in its canonical form
  // (upper-case hex, right-aligned sequence, printable padded text), so one
  // record has one encoding.
  static Result<AuditRecord> parse(std::string_view line);
  // Text longer than kTextChars is cut; non-printable characters become '?'.
  RecordLine format() const;
};

// "MM/DD/YY HH:MM:SS" of a Unix time (UTC), and back. Years 2000..2099.
std::string format_timestamp(std::int64_t unix_time);
Result<std::int64_t> parse_timestamp(std::string_view text);

std::string hmac_hex(const HmacTag& tag);  // upper-case
Result<HmacTag> parse_hmac_hex(std::string_view hex);  // 64 hex digits, either case

// HMAC_n = HMAC-SHA256(secret, message_n || prev) for a formatted line.
Result<HmacTag> chain_hmac(const LogSecret& secret, std::string_view line, const HmacTag& prev);

// Builds records in order: the HSM side of the chain.
class ChainWriter final {
 public:
  ChainWriter(LogSecret secret, std::uint64_t last_seq, HmacTag last_hmac)
      : secret_(std::move(secret)), last_seq_(last_seq), last_hmac_(last_hmac) {}
  // Gives the event its sequence number (last + 1), formats the line with
  // `text` and the previous HMAC, and advances the head.
  Result<RecordLine> append(AuditEvent event, std::string_view text);
  std::uint64_t last_seq() const noexcept { return last_seq_; }
  const HmacTag& last_hmac() const noexcept { return last_hmac_; }

 private:
  LogSecret secret_;
  std::uint64_t last_seq_;
  HmacTag last_hmac_;
};

// An anchor of the chain: record `seq` has HMAC `hmac` (the HSM's newest, or
// a head the auditor wrote down outside the log file).
struct ChainHead {
  std::uint64_t seq = 0;
  HmacTag hmac{};
  // "SEQ:HEX" (the form `audit head` prints).
  static Result<ChainHead> parse(std::string_view text);
  std::string to_string() const;
};

enum class Fault : std::uint8_t {
  none,
  malformed,      // the line is not a record (length, field syntax)
  modified,       // a record's content no longer matches the HMAC the HSM chained over it
  deleted,        // sequence numbers jump: records are missing
  inserted,       // a record whose sequence number was already used, or an unknown one
  reordered,      // a record appears before one the sequence expects first
  truncated,      // the log ends before the anchored head
  head_mismatch,  // the record at the head's seq does not reproduce the anchored HMAC
};
std::string_view fault_name(Fault fault) noexcept;

struct VerifyOptions {
  // Start at this sequence number (records before it are skipped): its
  // previous-HMAC field is taken as given. Without it, the log must start at
  // record 1 with 64 zeros.
  std::optional<std::uint64_t> from;
  // Anchors: each must be reproduced (or the log ends before it: truncation).
  std::optional<ChainHead> hsm_head;       // the HSM's newest HMAC
  std::optional<ChainHead> external_head;  // a head kept outside the log file
};

struct VerifyVerdict {
  Fault fault = Fault::none;
  std::uint64_t bad_seq = 0;      // the first bad record's sequence number (0: none / unknown)
  std::string location;           // file:line of the first bad record, as fed
  std::string why;                // one sentence
  std::uint64_t records = 0;      // records verified
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  HmacTag last_hmac{};            // HMAC of the last verified record
  bool ok() const noexcept { return fault == Fault::none; }
};

// Streaming verifier: feed() every line in log order, then finish().
// It names the first bad record; after a fault it keeps reading sequence
// numbers only to tell reordering from deletion.
class ChainVerifier final {
 public:
  ChainVerifier(LogSecret secret, VerifyOptions options)
      : secret_(std::move(secret)), options_(std::move(options)) {}
  // `line` without or with its '\n' (a record line must be kRecordBytes with it).
  void feed(std::string_view line, std::string_view location);
  VerifyVerdict finish();

 private:
  void fail(Fault fault, std::uint64_t seq, std::string_view location, std::string why);
  void check_heads(std::uint64_t seq, const HmacTag& hmac, std::string_view location);

  LogSecret secret_;
  VerifyOptions options_;
  VerifyVerdict verdict_;
  bool started_ = false;
  std::uint64_t expected_ = 1;
  HmacTag prev_{};
  // A previous-HMAC mismatch at `suspect_seq_` waits for the next record to
  // say whether the record before it or its own field was altered.
  struct Suspect {
    std::uint64_t seq;
    std::string location;
    std::string previous_location;  // of record k-1
    HmacTag hmac_from_field;        // HMAC(message_k || field_k)
  };
  std::string last_location_;  // of the last verified record
  std::optional<Suspect> suspect_;
  // After a jump from expected_ to a higher seq: seen later => reordered.
  std::optional<std::uint64_t> missing_;
  bool missing_seen_later_ = false;
};

}  // namespace rped::audit
