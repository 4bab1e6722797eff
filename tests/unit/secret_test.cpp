// SecretBytes / SecretArray: move-only, explicit clone, redacted printing,
// wiping, and the constant-time comparison.
#include "rped/secret.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "rped/bytes.h"
#include "support/result_assertions.h"

namespace rped {
namespace {

// An element type whose std::allocator (specialized below, as [namespace.std]
// allows for a program-defined type) records the buffer's bytes just before it
// is freed, i.e. after CleansingAllocator::deallocate has wiped it.
struct WipeProbe {
  std::uint8_t byte;
};

struct FreedBuffer {
  std::vector<std::uint8_t> bytes_at_free;
};
std::vector<FreedBuffer>& freed_buffers() {
  static std::vector<FreedBuffer> buffers;
  return buffers;
}

}  // namespace
}  // namespace rped

template <>
struct std::allocator<rped::WipeProbe> {
  using value_type = rped::WipeProbe;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using propagate_on_container_move_assignment = std::true_type;
  using is_always_equal = std::true_type;

  allocator() noexcept = default;
  template <typename U>
  allocator(const allocator<U>&) noexcept {}  // NOLINT

  value_type* allocate(std::size_t n) {
    return static_cast<value_type*>(::operator new(n * sizeof(value_type)));
  }
  void deallocate(value_type* p, std::size_t n) noexcept {
    std::vector<std::uint8_t> snapshot(n * sizeof(value_type));
    std::memcpy(snapshot.data(), p, snapshot.size());
    rped::freed_buffers().push_back({std::move(snapshot)});
    ::operator delete(p);
  }
  friend bool operator==(const allocator&, const allocator&) noexcept { return true; }
};

namespace rped {
namespace {

using test::bytes_of;

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(!std::is_convertible_v<SecretBytes, std::span<const std::uint8_t>>);
static_assert(!std::is_copy_constructible_v<SecretArray<32>>);
static_assert(!std::is_copy_assignable_v<SecretArray<32>>);
static_assert(std::is_nothrow_move_constructible_v<SecretArray<32>>);
static_assert(!std::is_convertible_v<SecretArray<32>, std::span<const std::uint8_t, 32>>);
static_assert(SecretArray<66>::size() == 66);

bool all_zero(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// The secret as text and as hex, neither of which may ever be printed.
const Bytes kSecret = bytes_of("TOPSECRETKEY");

template <typename Secret>
void expect_printed_redacted(const Secret& secret) {
  std::ostringstream os;
  os << secret;
  const std::string gtest_text = ::testing::PrintToString(secret);
  for (const std::string& printed : {os.str(), gtest_text}) {
    EXPECT_NE(printed.find("<redacted>"), std::string::npos) << printed;
    EXPECT_EQ(printed.find("TOPSECRET"), std::string::npos) << printed;
    EXPECT_EQ(printed.find(to_hex(std::span(kSecret).first(4))), std::string::npos) << printed;
  }
}

TEST(SecretBytes, CopyOfHoldsTheBytes) {
  const auto s = SecretBytes::copy_of(kSecret);
  EXPECT_EQ(s.size(), kSecret.size());
  EXPECT_FALSE(s.empty());
  EXPECT_TRUE(std::ranges::equal(s.reveal(), kSecret));
}

TEST(SecretBytes, CloneIsEqualAndIndependent) {
  auto original = SecretBytes::copy_of(kSecret);
  const SecretBytes copy = original.clone();
  EXPECT_TRUE(copy == original);
  original.reveal_mutable()[0] ^= 0x01;
  EXPECT_FALSE(copy == original);
  EXPECT_TRUE(std::ranges::equal(copy.reveal(), kSecret));
}

TEST(SecretBytes, EqualityDependsOnContentAndLength) {
  const auto a = SecretBytes::copy_of(kSecret);
  const auto shorter = SecretBytes::copy_of(std::span(kSecret).first(kSecret.size() - 1));
  EXPECT_FALSE(a == shorter);
  EXPECT_TRUE(SecretBytes() == SecretBytes());
}

TEST(SecretBytes, StreamsAsRedacted) {
  expect_printed_redacted(SecretBytes::copy_of(kSecret));
}

TEST(SecretBytes, ClearEmpties) {
  auto s = SecretBytes::copy_of(kSecret);
  s.clear();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
}

TEST(SecretBytes, ResizeAndAppend) {
  auto s = SecretBytes::copy_of(kSecret);
  s.resize(3);
  EXPECT_TRUE(std::ranges::equal(s.reveal(), bytes_of("TOP")));
  s.append(bytes_of("SOIL"));
  EXPECT_TRUE(std::ranges::equal(s.reveal(), bytes_of("TOPSOIL")));
  s.resize(9);
  EXPECT_TRUE(std::ranges::equal(s.reveal(), bytes_of(std::string_view("TOPSOIL\0\0", 9))));
}

TEST(SecretBytes, MoveLeavesSourceEmpty) {
  auto source = SecretBytes::copy_of(kSecret);
  const SecretBytes target = std::move(source);
  EXPECT_TRUE(std::ranges::equal(target.reveal(), kSecret));
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): std::vector move empties
}

TEST(SecretArray, CopyOfCloneAndEquality) {
  std::array<std::uint8_t, 4> raw{1, 2, 3, 4};
  const auto a = SecretArray<4>::copy_of(raw);
  const auto b = a.clone();
  EXPECT_TRUE(a == b);
  EXPECT_TRUE(std::ranges::equal(b.reveal(), raw));
  raw[3] = 5;
  EXPECT_FALSE(a == SecretArray<4>::copy_of(raw));
}

TEST(SecretArray, DefaultIsZeroAndStreamsAsRedacted) {
  EXPECT_TRUE(all_zero(SecretArray<16>().reveal()));
  SecretArray<12> s;
  std::ranges::copy(kSecret, s.reveal_mutable().begin());
  expect_printed_redacted(s);
}

TEST(SecretArray, MoveWipesTheSource) {
  SecretArray<4> source = SecretArray<4>::copy_of(std::array<std::uint8_t, 4>{9, 9, 9, 9});
  const SecretArray<4> target = std::move(source);
  EXPECT_TRUE(std::ranges::equal(target.reveal(), std::array<std::uint8_t, 4>{9, 9, 9, 9}));
  EXPECT_TRUE(all_zero(source.reveal()));  // NOLINT(bugprone-use-after-move): wiped by design

  SecretArray<4> assigned;
  SecretArray<4> other = target.clone();
  assigned = std::move(other);
  EXPECT_TRUE(assigned == target);
  EXPECT_TRUE(all_zero(other.reveal()));  // NOLINT(bugprone-use-after-move)
}

TEST(SecretArray, WipeZeroes) {
  auto s = SecretArray<3>::copy_of(std::array<std::uint8_t, 3>{0xff, 0xfe, 0xfd});
  s.wipe();
  EXPECT_TRUE(all_zero(s.reveal()));
}

TEST(SecureWipe, ZeroesTheWholeBufferAndNothingElse) {
  std::array<std::uint8_t, 34> buffer;
  buffer.fill(0xa5);
  secure_wipe(buffer.data() + 1, 32);
  EXPECT_EQ(buffer.front(), 0xa5);
  EXPECT_EQ(buffer.back(), 0xa5);
  EXPECT_TRUE(all_zero(std::span(buffer).subspan(1, 32)));
  secure_wipe(nullptr, 0);  // a no-op, not a crash
}

TEST(CleansingAllocator, WipesOnReallocationAndRelease) {
  freed_buffers().clear();
  {
    std::vector<WipeProbe, CleansingAllocator<WipeProbe>> v;
    v.reserve(4);
    for (std::uint8_t i = 1; i <= 4; ++i) {
      v.push_back({static_cast<std::uint8_t>(0xc0 | i)});
    }
    v.push_back({0xc5});  // exceeds the capacity: the old buffer is released
    ASSERT_EQ(freed_buffers().size(), 1u);
  }
  ASSERT_EQ(freed_buffers().size(), 2u);
  for (const FreedBuffer& freed : freed_buffers()) {
    EXPECT_FALSE(freed.bytes_at_free.empty());
    EXPECT_TRUE(all_zero(freed.bytes_at_free)) << to_hex(freed.bytes_at_free);
  }
}

TEST(ConstantTimeEqual, Semantics) {
  const Bytes a{1, 2, 3, 4};
  EXPECT_TRUE(constant_time_equal(a, Bytes{1, 2, 3, 4}));
  EXPECT_FALSE(constant_time_equal(a, Bytes{1, 2, 3, 5}));
  EXPECT_FALSE(constant_time_equal(a, Bytes{0, 2, 3, 4}));
  // Unequal lengths are unequal, also when one is a prefix of the other.
  EXPECT_FALSE(constant_time_equal(a, Bytes{1, 2, 3}));
  EXPECT_FALSE(constant_time_equal(Bytes{1, 2, 3}, a));
  EXPECT_FALSE(constant_time_equal(a, Bytes{}));
  EXPECT_TRUE(constant_time_equal(Bytes{}, Bytes{}));
}

}  // namespace
}  // namespace rped
