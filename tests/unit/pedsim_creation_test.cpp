// PED emulator: create_keyset in its four stages (reuse? -> M and N -> each
// key with overwrite confirmation and PIN -> duplicates), and what it writes.
#include <gtest/gtest.h>

#include "pedsim_harness.h"

namespace rped::pedsim::test {
namespace {

using ped::KeyType;
using ped::Op;
using ped::Status;

class PedCreation : public ::testing::Test {
 protected:
  PedCreation() {
    for (int i = 1; i <= 8; ++i) {
      folder.blank("blank" + std::to_string(i));
    }
  }

  KeyFolder folder;
  SecretBytes so_secret = random_secret();
  WrittenKeyset blue =
      folder.mint(KeyType::blue, "blue", 3, 5, {"1111", "2222", "3333", "4444", "5555"}, so_secret);
  WrittenKeyset white = folder.mint(KeyType::white, "white", 1, 1, {}, random_secret());
  std::unique_ptr<PedDevice> device = make_device(folder);
  TestHost host{*device};
  Custodian custodian{*device};

  Status status_of(std::uint32_t id) {
    auto reply = host.reply(id);
    EXPECT_TRUE(reply.has_value()) << "no response to request " << id;
    return reply ? reply->status : Status::internal;
  }

  ped::CreateKeysetResponse created(std::uint32_t id) {
    auto reply = host.reply(id);
    EXPECT_TRUE(reply.has_value());
    if (!reply) {
      return {};
    }
    EXPECT_EQ(reply->status, Status::ok) << reply->message;
    return must(ped::CreateKeysetResponse::parse(reply->payload));
  }

  // Stage 2.
  void choose(const std::string& m, const std::string& n) {
    ASSERT_TRUE(custodian.expect("Enter M value: (1-16)"));
    custodian.pin(m);
    ASSERT_TRUE(custodian.expect("Enter N value:"));
    custodian.pin(n);
  }

  // Stage 3 on a blank key: one confirmation, then the PIN twice (or ENTER alone).
  void write_on_blank(const std::string& which, const std::string& key, const std::string& pin) {
    ASSERT_TRUE(custodian.expect(which));
    custodian.present(key);
    ASSERT_TRUE(custodian.expect("This PED key is blank. Overwrite? YES/NO"));
    custodian.yes();
    ASSERT_TRUE(custodian.expect("Enter new PED PIN"));
    custodian.pin(pin);
    if (!pin.empty()) {
      ASSERT_TRUE(custodian.expect("Confirm new PED PIN:"));
      custodian.pin(pin);
    }
  }
};

TEST_F(PedCreation, TwoOfThreeWithPinsAndADuplicateSet) {
  const SecretBytes secret = random_secret();
  const auto id = host.send(Op::create_keyset, create_keyset_body(KeyType::black, secret));
  ASSERT_TRUE(custodian.expect("Do you wish to reuse an existing keyset? YES/NO"));
  custodian.no();
  choose("2", "3");
  write_on_blank("Key 1 of 3", "blank1", "1357");
  write_on_blank("Key 2 of 3", "blank2", "2468");
  write_on_blank("Key 3 of 3", "blank3", "");  // no PIN on this one
  ASSERT_TRUE(custodian.expect("Create duplicate keysets? YES/NO"));
  custodian.yes();
  ASSERT_TRUE(custodian.expect("Number of duplicate sets: (1-16)"));
  custodian.pin("1");
  write_on_blank("Dup 1: key 1 of 3", "blank4", "9753");  // a duplicate gets its own PIN
  write_on_blank("Dup 1: key 2 of 3", "blank5", "2468");
  write_on_blank("Dup 1: key 3 of 3", "blank6", "");
  const auto response = created(id);
  EXPECT_FALSE(response.reused);
  EXPECT_EQ(response.m, 2);
  EXPECT_EQ(response.n, 3);
  EXPECT_EQ(response.duplicate_sets, 1);
  EXPECT_TRUE(response.secret == secret);

  const PedKeyRecord first = folder.load("blank1");
  const PedKeyRecord dup = folder.load("blank4");
  EXPECT_EQ(first.type, KeyType::black);
  EXPECT_EQ(first.keyset_id, response.keyset_id);
  EXPECT_EQ(first.m, 2);
  EXPECT_EQ(first.n, 3);
  EXPECT_EQ(first.split_index, 1);
  EXPECT_TRUE(first.has_pin);
  EXPECT_FALSE(folder.load("blank3").has_pin);
  EXPECT_EQ(dup.split_index, 1);
  EXPECT_EQ(dup.keyset_id, first.keyset_id);
  EXPECT_NE(dup.serial, first.serial);

  // The new keyset logs in: the duplicate of split 1 with its own PIN, and split 3 without PIN.
  const auto login = host.send(Op::read_secret, read_secret_body(KeyType::black));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("blank4");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("9753");
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 02"));
  custodian.present("blank3");
  const auto reply = host.reply(login);
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->status, Status::ok) << reply->message;
  const auto read = must(ped::ReadSecretResponse::parse(reply->payload));
  EXPECT_TRUE(read.secret == secret);
  EXPECT_EQ(read.keyset_id, response.keyset_id);
}

TEST_F(PedCreation, ReuseReadsTheExistingKeyset) {
  const auto id = host.send(Op::create_keyset, create_keyset_body(KeyType::blue, random_secret()));
  ASSERT_TRUE(custodian.expect("reuse an existing keyset?"));
  custodian.yes();
  for (const auto& [key, pin] :
       {std::pair{"blue1", "1111"}, {"blue2", "2222"}, {"blue3", "3333"}}) {
    ASSERT_TRUE(custodian.expect("Press ENTER."));
    custodian.present(key);
    ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
    custodian.pin(pin);
  }
  const auto response = created(id);
  EXPECT_TRUE(response.reused);
  EXPECT_EQ(response.m, 3);
  EXPECT_EQ(response.n, 5);
  EXPECT_EQ(response.keyset_id, blue.keyset_id);
  EXPECT_TRUE(response.secret == so_secret);
}

TEST_F(PedCreation, WithoutReuseTheFirstQuestionIsM) {
  const auto id =
      host.send(Op::create_keyset, create_keyset_body(KeyType::red, random_secret(), false));
  choose("1", "1");
  write_on_blank("Key 1 of 1", "blank1", "");
  ASSERT_TRUE(custodian.expect("Create duplicate keysets?"));
  custodian.no();
  const auto response = created(id);
  EXPECT_EQ(response.duplicate_sets, 0);
  EXPECT_EQ(folder.load("blank1").type, KeyType::red);
}

TEST_F(PedCreation, OverwritingAKeyThatHoldsASecretAsksTwiceNamingIt) {
  const auto id =
      host.send(Op::create_keyset, create_keyset_body(KeyType::black, random_secret(), false));
  choose("1", "1");
  ASSERT_TRUE(custodian.expect("Key 1 of 1"));
  custodian.present("white1");
  ASSERT_TRUE(custodian.expect("This PED key holds Auditor PED Key (WHITE) Overwrite? YES/NO"));
  custodian.no();  // keep it: the PED asks for another key
  ASSERT_TRUE(custodian.expect("Insert another key."));
  custodian.enter();  // same key again
  ASSERT_TRUE(custodian.expect("This PED key holds Auditor"));
  custodian.yes();
  ASSERT_TRUE(custodian.expect("Are you sure? The Auditor secret will be lost. YES/NO"));
  custodian.yes();
  ASSERT_TRUE(custodian.expect("Enter new PED PIN"));
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Create duplicate keysets?"));
  custodian.no();
  EXPECT_EQ(status_of(id), Status::ok);
  EXPECT_EQ(folder.load("white1").type, KeyType::black);
}

TEST_F(PedCreation, AKeyIsNotWrittenTwiceInOneKeyset) {
  const auto id =
      host.send(Op::create_keyset, create_keyset_body(KeyType::black, random_secret(), false));
  choose("1", "2");
  write_on_blank("Key 1 of 2", "blank1", "");
  ASSERT_TRUE(custodian.expect("Key 2 of 2"));
  custodian.enter();  // blank1 is still in the port
  ASSERT_TRUE(custodian.expect("Key already used."));
  custodian.press(Keypad::back);
  EXPECT_EQ(status_of(id), Status::cancelled);
}

TEST_F(PedCreation, PinRulesAndConfirmation) {
  const auto id =
      host.send(Op::create_keyset, create_keyset_body(KeyType::black, random_secret(), false));
  choose("1", "1");
  ASSERT_TRUE(custodian.expect("Key 1 of 1"));
  custodian.present("blank1");
  ASSERT_TRUE(custodian.expect("Overwrite?"));
  custodian.yes();
  ASSERT_TRUE(custodian.expect("Enter new PED PIN"));
  custodian.pin("123");  // too short
  ASSERT_TRUE(custodian.expect("PIN: 4-48 digits, not 0 first."));
  custodian.pin("0123");  // starts with 0
  ASSERT_TRUE(custodian.expect("PIN: 4-48 digits, not 0 first."));
  custodian.digits("99");
  custodian.press(Keypad::clear);  // CLEAR empties the entry
  custodian.pin("4321");
  ASSERT_TRUE(custodian.expect("Confirm new PED PIN:"));
  custodian.pin("4322");
  ASSERT_TRUE(custodian.expect("PINs did not match."));
  custodian.pin("4321");
  ASSERT_TRUE(custodian.expect("Confirm new PED PIN:"));
  custodian.pin("4321");
  ASSERT_TRUE(custodian.expect("Create duplicate keysets?"));
  custodian.no();
  EXPECT_EQ(status_of(id), Status::ok);
  const PedKeyRecord record = folder.load("blank1");
  EXPECT_TRUE(record.has_pin);
  const std::string pin = "4321";
  EXPECT_TRUE(rped::test::is_ok(unseal_key(
      record,
      SecretBytes::copy_of(ByteView(reinterpret_cast<const std::uint8_t*>(pin.data()), 4)))));
}

TEST_F(PedCreation, OutOfRangeQuorumValuesAreAskedAgain) {
  const auto id =
      host.send(Op::create_keyset, create_keyset_body(KeyType::black, random_secret(), false));
  ASSERT_TRUE(custodian.expect("Enter M value: (1-16)"));
  custodian.pin("0");
  ASSERT_TRUE(custodian.expect("Enter 1 to 16."));
  custodian.pin("17");
  ASSERT_TRUE(custodian.expect("Enter 1 to 16."));
  custodian.pin("3");
  ASSERT_TRUE(custodian.expect("Enter N value: (3-16)"));
  custodian.pin("2");
  ASSERT_TRUE(custodian.expect("Enter 3 to 16."));
  custodian.press(Keypad::back);
  EXPECT_EQ(status_of(id), Status::cancelled);
}

TEST_F(PedCreation, KeyRemovedBeforeItsPinIsConfirmed) {
  const auto id =
      host.send(Op::create_keyset, create_keyset_body(KeyType::black, random_secret(), false));
  choose("1", "1");
  ASSERT_TRUE(custodian.expect("Key 1 of 1"));
  custodian.present("blank1");
  ASSERT_TRUE(custodian.expect("Overwrite?"));
  custodian.yes();
  ASSERT_TRUE(custodian.expect("Enter new PED PIN"));
  custodian.pin("1234");
  ASSERT_TRUE(custodian.expect("Confirm new PED PIN:"));
  custodian.remove();
  EXPECT_EQ(status_of(id), Status::key_removed);
  EXPECT_TRUE(folder.load("blank1").is_blank());
}

TEST_F(PedCreation, NeedsRemotePedMode) {
  auto local = make_device(folder, ped::Mode::local);
  TestHost local_host(*local);
  const auto reply = local_host.reply(
      local_host.send(Op::create_keyset, create_keyset_body(KeyType::blue, random_secret())));
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, Status::not_in_remote_mode);
}

}  // namespace
}  // namespace rped::pedsim::test
