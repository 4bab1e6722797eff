// The audit record format and its HMAC-SHA256 chain (rped/audit/record.h,
// docs/audit-log.md): field widths, the documentation's example, and the
// verifier's verdict for every kind of tampering, the re-seal attack included.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "rped/audit/record.h"
#include "rped/crypto/kdf.h"
#include "rped/crypto/symmetric.h"
#include "support/result_assertions.h"

namespace rped::audit {
namespace {

using test::fails_with;
using test::must;

LogSecret counting_secret() {
  LogSecret secret;
  for (std::size_t i = 0; i < secret.size(); ++i) {
    secret.reveal_mutable()[i] = static_cast<std::uint8_t>(i);
  }
  return secret;
}

std::string str(const RecordLine& line) {
  return std::string(line.data(), line.size());
}

std::vector<std::string> make_log(std::size_t count, const LogSecret& secret = counting_secret()) {
  ChainWriter writer(secret.clone(), 0, HmacTag{});
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < count; ++i) {
    AuditEvent e;
    e.category = Category::access;
    e.event = Event::login;
    e.unix_time = 1'795'305'600 + static_cast<std::int64_t>(i);
    e.hsm_serial = 1234567;
    lines.push_back(str(must(writer.append(e, "S/N 1234567 role none LUNA_LOGIN #" + std::to_string(i + 1)))));
  }
  return lines;
}

ChainHead head_of(const std::vector<std::string>& lines, const LogSecret& secret = counting_secret()) {
  HmacTag prev{};
  for (const std::string& l : lines) {
    prev = must(chain_hmac(secret, l, prev));
  }
  return ChainHead{lines.size(), prev};
}

VerifyVerdict verify(const std::vector<std::string>& lines, VerifyOptions options = {},
                     const LogSecret& secret = counting_secret()) {
  ChainVerifier verifier(secret.clone(), std::move(options));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    verifier.feed(lines[i], "log:" + std::to_string(i + 1));
  }
  return verifier.finish();
}

TEST(AuditRecord, FieldsHaveTheirDocumentedWidths) {
  const std::vector<std::string> log = make_log(1);
  const std::string& line = log[0];
  ASSERT_EQ(line.size(), 448u);
  EXPECT_EQ(line.substr(0, 10), "         1");
  EXPECT_EQ(line[10], ',');
  EXPECT_EQ(line.substr(11, 17), format_timestamp(1'795'305'600));
  EXPECT_EQ(line.substr(11, 17), "11/22/26 00:00:00");
  EXPECT_EQ(line[28], ',');
  EXPECT_EQ(line.substr(29, 256).find_last_not_of(' ') + 1, std::string("S/N 1234567 role none LUNA_LOGIN #1").size());
  EXPECT_EQ(line[285], ',');
  EXPECT_EQ(line.substr(286, 64), std::string(64, '0'));
  EXPECT_EQ(line[350], ',');
  EXPECT_EQ(line.substr(351, 96).find_first_not_of("0123456789ABCDEF"), std::string::npos);
  EXPECT_EQ(line[447], '\n');
  const AuditRecord rec = must(AuditRecord::parse(line));
  EXPECT_EQ(rec.seq, 1u);
  EXPECT_EQ(rec.text, "S/N 1234567 role none LUNA_LOGIN #1");
  EXPECT_EQ(str(rec.format()), line) << "one encoding per record";
  const AuditEvent event = must(AuditEvent::parse(rec.raw));
  EXPECT_EQ(event.seq, 1u);
  EXPECT_EQ(event.hsm_serial, 1234567u);
  EXPECT_EQ(event.event, Event::login);

  // The largest sequence number fills the field; text is cut at 256 characters.
  AuditRecord big = rec;
  big.seq = kMaxSeq;
  big.text = std::string(300, 'x');
  AuditEvent raw = event;
  raw.seq = kMaxSeq;
  big.raw = raw.serialize();
  const std::string big_line = str(big.format());
  EXPECT_EQ(big_line.substr(0, 10), "9999999999");
  const AuditRecord back = must(AuditRecord::parse(big_line));
  EXPECT_EQ(back.text, std::string(256, 'x'));
}

TEST(AuditRecord, RefusesEveryNonCanonicalOrBrokenField) {
  const std::string good = make_log(1)[0];
  const auto mutated = [&](std::size_t offset, char c) {
    std::string s = good;
    s[offset] = c;
    return s;
  };
  EXPECT_TRUE(fails_with(AuditRecord::parse(good.substr(0, 447)), Errc::invalid_encoding)) << "torn";
  EXPECT_TRUE(fails_with(AuditRecord::parse(good + "x"), Errc::invalid_encoding));
  for (const std::size_t comma : {10u, 28u, 285u, 350u}) {
    EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(comma, ';')), Errc::invalid_encoding)) << comma;
  }
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(447, ' ')), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(8, '0')), Errc::invalid_encoding)) << "leading zero";
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(9, '0')), Errc::invalid_encoding)) << "seq 0";
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(3, 'x')), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(11, '1').replace(12, 1, "3")), Errc::invalid_encoding))
      << "month 13";
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(13, ':')), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(40, '\t')), Errc::invalid_encoding)) << "control char";
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(300, 'a')), Errc::invalid_encoding)) << "lower-case hex";
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(300, 'G')), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(360, 'f')), Errc::invalid_encoding));
  // The raw data's sequence number must equal the first field's.
  EXPECT_TRUE(fails_with(AuditRecord::parse(mutated(9, '2')), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(parse_timestamp("02/30/24 00:00:00"), Errc::invalid_encoding));
  EXPECT_EQ(must(parse_timestamp("02/29/24 23:59:59")), 1'709'251'199);
}

// docs/audit-log.md §2: the example lines parse, and chain under K = 00..1F
// to the head the document states.
TEST(AuditRecordDoc, TheDocumentationsExampleParsesAndVerifies) {
  std::ifstream in(std::string(RPED_SOURCE_DIR) + "/docs/audit-log.md");
  ASSERT_TRUE(in) << "docs/audit-log.md";
  std::stringstream doc;
  doc << in.rdbuf();
  const std::string text = doc.str();
  const std::size_t begin = text.find("```audit-example\n");
  ASSERT_NE(begin, std::string::npos);
  const std::size_t first = begin + std::string("```audit-example\n").size();
  const std::size_t end = text.find("```", first);
  std::vector<std::string> lines;
  for (std::size_t at = first; at < end;) {
    const std::size_t nl = text.find('\n', at);
    lines.push_back(text.substr(at, nl + 1 - at));
    at = nl + 1;
  }
  ASSERT_EQ(lines.size(), 2u);
  const AuditRecord r1 = must(AuditRecord::parse(lines[0]));
  EXPECT_EQ(r1.seq, 1u);
  EXPECT_EQ(format_timestamp(r1.unix_time), "12/08/13 15:30:50");
  EXPECT_EQ(r1.text, "S/N 1234567 role so LUNA_CREATE_CONTAINER returned CKR_OK(0x00000000)");
  EXPECT_EQ(r1.prev_hmac, HmacTag{});
  const AuditEvent e1 = must(AuditEvent::parse(r1.raw));
  EXPECT_EQ(e1.event, Event::partition_create);
  EXPECT_EQ(e1.role, 1u);
  const AuditRecord r2 = must(AuditRecord::parse(lines[1]));
  EXPECT_EQ(r2.seq, 2u);
  EXPECT_EQ(must(AuditEvent::parse(r2.raw)).result, 0xA0u);
  const ChainHead head =
      must(ChainHead::parse("2:FD5040E3D7D3AB1F2E7613938635965228055C106DBD38EB2F0E3EC3918B25CB"));
  EXPECT_NE(text.find(head.to_string()), std::string::npos) << "the document states this head";
  VerifyOptions options;
  options.hsm_head = head;
  const VerifyVerdict verdict = verify(lines, options);
  EXPECT_TRUE(verdict.ok()) << verdict.why;
  EXPECT_EQ(verdict.records, 2u);
}

TEST(AuditChain, AnIntactLogVerifiesWholeAndFromAnyRecord) {
  const std::vector<std::string> log = make_log(20);
  VerifyOptions options;
  options.hsm_head = head_of(log);
  VerifyVerdict v = verify(log, options);
  EXPECT_TRUE(v.ok()) << v.why;
  EXPECT_EQ(v.records, 20u);
  EXPECT_EQ(v.last_hmac, options.hsm_head->hmac);
  options.from = 7;
  v = verify(log, options);
  EXPECT_TRUE(v.ok()) << v.why;
  EXPECT_EQ(v.first_seq, 7u);
  EXPECT_EQ(v.records, 14u);
  // Only the range from 7 is present: still verifiable on its own.
  v = verify(std::vector<std::string>(log.begin() + 6, log.end()), options);
  EXPECT_TRUE(v.ok()) << v.why;
  // ... but not as a whole log.
  v = verify(std::vector<std::string>(log.begin() + 6, log.end()));
  EXPECT_EQ(v.fault, Fault::deleted);
  EXPECT_EQ(v.bad_seq, 1u);
}

TEST(AuditChain, AModifiedRecordIsNamed) {
  std::vector<std::string> log = make_log(10);
  log[4][40] = log[4][40] == 'X' ? 'Y' : 'X';  // record 5's text
  VerifyVerdict v = verify(log);
  EXPECT_EQ(v.fault, Fault::modified);
  EXPECT_EQ(v.bad_seq, 5u) << v.why;
  EXPECT_EQ(v.location, "log:5") << "the bad record itself, found by the one that chains over it";

  log = make_log(10);
  log[4][300] = log[4][300] == 'A' ? 'B' : 'A';  // record 5's previous-HMAC field
  v = verify(log);
  EXPECT_EQ(v.fault, Fault::modified);
  EXPECT_EQ(v.bad_seq, 5u) << v.why;

  log = make_log(10);
  log[9][40] = 'Z';  // the last record: only the head can tell
  EXPECT_TRUE(verify(log).ok()) << "without an anchor the last record is unprotected";
  VerifyOptions options;
  options.hsm_head = head_of(make_log(10));
  v = verify(log, options);
  EXPECT_EQ(v.fault, Fault::head_mismatch);
  EXPECT_EQ(v.bad_seq, 10u);

  log = make_log(3);
  log[1] = log[1].substr(0, 100);
  v = verify(log);
  EXPECT_EQ(v.fault, Fault::malformed);
  EXPECT_EQ(v.location, "log:2");
}

TEST(AuditChain, DeletionInsertionReorderingAndTruncationAreNamed) {
  const std::vector<std::string> log = make_log(10);
  VerifyOptions anchored;
  anchored.hsm_head = head_of(log);

  std::vector<std::string> deleted = log;
  deleted.erase(deleted.begin() + 3);
  VerifyVerdict v = verify(deleted, anchored);
  EXPECT_EQ(v.fault, Fault::deleted);
  EXPECT_EQ(v.bad_seq, 4u);

  std::vector<std::string> duplicated = log;
  duplicated.insert(duplicated.begin() + 5, log[2]);
  v = verify(duplicated, anchored);
  EXPECT_EQ(v.fault, Fault::inserted);
  EXPECT_EQ(v.bad_seq, 3u);

  // A forged record from another chain (another secret), numbered to fit.
  std::vector<std::string> forged = log;
  LogSecret other;
  forged[5] = make_log(10, other)[5];
  v = verify(forged, anchored);
  EXPECT_EQ(v.fault, Fault::modified);
  EXPECT_EQ(v.bad_seq, 6u) << v.why;

  std::vector<std::string> reordered = log;
  std::swap(reordered[3], reordered[4]);
  v = verify(reordered, anchored);
  EXPECT_EQ(v.fault, Fault::reordered);
  EXPECT_EQ(v.bad_seq, 4u);

  std::vector<std::string> truncated(log.begin(), log.end() - 2);
  EXPECT_TRUE(verify(truncated).ok()) << "truncation needs the HSM's head";
  v = verify(truncated, anchored);
  EXPECT_EQ(v.fault, Fault::truncated);
  EXPECT_EQ(v.bad_seq, 9u);

  // Records after the HSM's newest were never written by it.
  VerifyOptions older;
  older.hsm_head = head_of(std::vector<std::string>(log.begin(), log.end() - 3));
  v = verify(log, older);
  EXPECT_EQ(v.fault, Fault::inserted);
}

// journald's CVE-2023-31439 lesson: with the secret, an attacker can re-seal
// a rewritten log so the chain verifies; a head kept outside the log catches it.
TEST(AuditChain, ReSealingWithTheSecretFailsAgainstAnExternalHead) {
  const std::vector<std::string> original = make_log(12);
  const ChainHead kept = head_of(std::vector<std::string>(original.begin(), original.begin() + 8));

  // The attacker rewrites record 3's text and re-chains everything after it.
  ChainWriter writer(counting_secret(), 0, HmacTag{});
  std::vector<std::string> resealed;
  for (std::size_t i = 0; i < original.size(); ++i) {
    const AuditRecord rec = must(AuditRecord::parse(original[i]));
    AuditEvent e = must(AuditEvent::parse(rec.raw));
    const std::string text = i == 2 ? "S/N 1234567 role none LUNA_LOGIN nothing happened" : rec.text;
    resealed.push_back(str(must(writer.append(e, text))));
  }
  EXPECT_TRUE(verify(resealed).ok()) << "the chain alone cannot tell";
  VerifyOptions options;
  options.external_head = kept;
  const VerifyVerdict v = verify(resealed, options);
  EXPECT_EQ(v.fault, Fault::head_mismatch);
  EXPECT_EQ(v.bad_seq, 8u);
  EXPECT_TRUE(verify(original, options).ok());
  // The head's text form round-trips; garbage does not parse.
  EXPECT_EQ(must(ChainHead::parse(kept.to_string())).hmac, kept.hmac);
  EXPECT_TRUE(fails_with(ChainHead::parse("8:XYZ"), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(ChainHead::parse("nope"), Errc::invalid_argument));
}

TEST(AuditChain, TheChainIsHmacSha256OverTheDocumentedBytes) {
  // Independent of ChainWriter: HMAC-SHA256 over line[0,286) || line[351,447) || prev.
  const std::vector<std::string> log = make_log(2);
  const LogSecret secret = counting_secret();
  const Bytes expected = must(crypto::hmac(
      crypto::Hash::sha256, secret.reveal(),
      {ByteView(reinterpret_cast<const std::uint8_t*>(log[0].data()), 286),
       ByteView(reinterpret_cast<const std::uint8_t*>(log[0].data()) + 351, 96),
       ByteView(HmacTag{})}));
  EXPECT_EQ(to_hex(expected), [&] {
    std::string lower = log[1].substr(286, 64);
    for (char& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return lower;
  }());
}

}  // namespace
}  // namespace rped::audit
