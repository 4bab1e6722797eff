// Hex coding, big-endian integer encoding, and the Reader/Writer field forms
// both device and backend protocols use.
#include "rped/bytes.h"

#include <gtest/gtest.h>

#include <string_view>

#include "rped/wire.h"
#include "support/result_assertions.h"

namespace rped {
namespace {

using test::fails_with;
using test::is_ok;

TEST(Hex, EncodesLowerCase) {
  EXPECT_EQ(to_hex(Bytes{0x00, 0x0a, 0xab, 0xff}), "000aabff");
  EXPECT_EQ(to_hex(Bytes{}), "");
}

TEST(Hex, DecodesEitherCase) {
  const auto r = from_hex("00aAbBfF");
  ASSERT_TRUE(is_ok(r));
  EXPECT_EQ(r.value(), (Bytes{0x00, 0xaa, 0xbb, 0xff}));
}

TEST(Hex, EmptyStringIsEmptyBytes) {
  const auto r = from_hex("");
  ASSERT_TRUE(is_ok(r));
  EXPECT_TRUE(r.value().empty());
}

TEST(Hex, RoundTripsEveryByteValue) {
  Bytes all(256);
  for (std::size_t i = 0; i < all.size(); ++i) {
    all[i] = static_cast<std::uint8_t>(i);
  }
  const auto back = from_hex(to_hex(all));
  ASSERT_TRUE(is_ok(back));
  EXPECT_EQ(back.value(), all);
}

TEST(Hex, OddLengthIsInvalidEncoding) {
  EXPECT_TRUE(fails_with(from_hex("0"), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(from_hex("abc"), Errc::invalid_encoding));
}

TEST(Hex, NonHexCharactersAreInvalidEncoding) {
  for (const std::string_view bad :
       {"0g", "g0", "zz", "0x12", " 1", "1 ", "12:34", "-1", "\xc3\xa9"}) {
    EXPECT_TRUE(fails_with(from_hex(bad), Errc::invalid_encoding)) << "input: '" << bad << "'";
  }
  // A NUL inside the view must not end parsing early.
  constexpr char with_nul[] = {'0', '1', '\0', '2'};
  EXPECT_TRUE(fails_with(from_hex(std::string_view(with_nul, 4)), Errc::invalid_encoding));
}

TEST(BigEndian, AppendsFixedWidthIntegers) {
  Bytes out{0xee};
  append_u32_be(out, 0x01020304u);
  append_u64_be(out, 0x0a0b0c0d0e0f1011ull);
  EXPECT_EQ(out,
            (Bytes{0xee, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11}));
  Bytes zero;
  append_u32_be(zero, 0);
  EXPECT_EQ(zero, (Bytes{0, 0, 0, 0}));
}

// text16 / blob16 / secret16 copy what vector16 would return, with its bounds.
TEST(ReaderWriter, TheCopyingVector16FormsHoldTheFieldBytes) {
  Writer w;
  w.text16("prod-ca", 64);
  w.text16("a longer label than allowed", 8);  // ours: clipped, not refused
  w.vector16(Bytes{0x01, 0x02, 0x03});
  w.vector16(Bytes{0xAA, 0xBB});
  w.u8(1);
  w.u8(0);
  Reader r(w.data());
  EXPECT_EQ(r.text16(0, 64, "label").value(), "prod-ca");
  EXPECT_EQ(r.text16(0, 64, "clipped").value(), "a longer");
  EXPECT_EQ(r.blob16(3, 3, "blob").value(), (Bytes{0x01, 0x02, 0x03}));
  const SecretBytes secret = r.secret16(1, 2, "secret").value();
  EXPECT_EQ(Bytes(secret.reveal().begin(), secret.reveal().end()), (Bytes{0xAA, 0xBB}));
  EXPECT_TRUE(r.boolean("yes").value());
  EXPECT_FALSE(r.boolean("no").value());
  EXPECT_TRUE(is_ok(r.expect_end("message")));
}

TEST(ReaderWriter, TheCopyingFormsRefuseWhatVector16Refuses) {
  Writer w;
  w.vector16(Bytes(5, 0x41));
  EXPECT_TRUE(fails_with(Reader(w.data()).text16(0, 4, "label"), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(Reader(w.data()).blob16(6, 9, "blob"), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(Reader(ByteView(w.data()).first(4)).secret16(0, 9, "secret"),
                         Errc::invalid_encoding));
  const Bytes two{2};
  const auto not_a_bool = Reader(two).boolean("flag");
  ASSERT_TRUE(fails_with(not_a_bool, Errc::invalid_encoding));
  EXPECT_NE(not_a_bool.error().message.find("flag must be 0 or 1"), std::string::npos);
  EXPECT_TRUE(fails_with(Reader(Bytes{}).boolean("flag"), Errc::invalid_encoding));
}

}  // namespace
}  // namespace rped
