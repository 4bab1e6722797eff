// PED emulator: Admin mode through the keypad (List types, duplicate a key,
// self test) and the log screen.
#include <gtest/gtest.h>

#include "pedsim_harness.h"

namespace rped::pedsim::test {
namespace {

using ped::KeyType;
using ped::Op;
using ped::Status;

class PedAdmin : public ::testing::Test {
 protected:
  PedAdmin() {
    folder.blank("blank1");
    folder.blank("blank2");
  }

  void enter_admin_mode() {
    ASSERT_TRUE(custodian.expect("Local PED-USB mode"));
    custodian.press(Keypad::d1);
    ASSERT_TRUE(custodian.expect("Admin mode 1 List types 2 Duplicate key 3 Self test"));
  }

  KeyFolder folder;
  SecretBytes so_secret = random_secret();
  WrittenKeyset blue =
      folder.mint(KeyType::blue, "blue", 3, 5, {"1111", "2222", "3333", "4444", "5555"}, so_secret);
  std::unique_ptr<PedDevice> device = make_device(folder, ped::Mode::local);
  TestHost host{*device};
  Custodian custodian{*device};
};

TEST_F(PedAdmin, ListTypesIdentifiesTheInsertedKey) {
  enter_admin_mode();
  EXPECT_EQ(device->mode(), ped::Mode::admin);
  const auto changed = host.event(Op::mode_changed);
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(must(ped::ModeChangedEvent::parse(changed->body)).mode, ped::Mode::admin);

  custodian.press(Keypad::d1);
  ASSERT_TRUE(custodian.expect("Insert a PED Key to identify. Press ENTER."));
  custodian.present("blue2");
  ASSERT_TRUE(custodian.expect("SO / HSM Admin PED Key (BLUE) Split 2 of 5, M=3"));
  EXPECT_TRUE(lcd_shows(device->lcd(), "PIN: yes"));
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Admin mode"));

  custodian.press(Keypad::d1);
  ASSERT_TRUE(custodian.expect("to identify."));
  custodian.present("blank1");
  ASSERT_TRUE(custodian.expect("This PED key is blank."));
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Admin mode"));
}

TEST_F(PedAdmin, DuplicateMakesATrueCopyThatLogsInWithTheSamePin) {
  enter_admin_mode();
  custodian.press(Keypad::d2);
  ASSERT_TRUE(custodian.expect("Insert the PED Key to duplicate."));
  custodian.present("blue1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("1111");
  ASSERT_TRUE(custodian.expect("Insert a blank PED Key for the copy."));
  custodian.enter();  // still the source in the port
  ASSERT_TRUE(custodian.expect("That is the source."));
  custodian.present("blank1");
  ASSERT_TRUE(custodian.expect("This PED key is blank. Overwrite? YES/NO"));
  custodian.yes();
  ASSERT_TRUE(custodian.expect("Duplicate written."));
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Admin mode"));

  const PedKeyRecord source = folder.load("blue1");
  const PedKeyRecord copy = folder.load("blank1");
  EXPECT_EQ(copy.type, KeyType::blue);
  EXPECT_EQ(copy.keyset_id, source.keyset_id);
  EXPECT_EQ(copy.split_index, source.split_index);
  EXPECT_EQ(copy.wrapped_split, source.wrapped_split);
  EXPECT_EQ(copy.pin_salt, source.pin_salt);
  EXPECT_NE(copy.serial, source.serial);

  // The copy stands in for split 1 in a login (PIN 1111).
  custodian.press(Keypad::back);
  ASSERT_TRUE(custodian.expect("Local PED-USB mode"));
  custodian.press(Keypad::d7);
  ASSERT_TRUE(custodian.expect("Remote PED mode"));
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  for (const auto& [key, pin] :
       {std::pair{"blank1", "1111"}, {"blue4", "4444"}, {"blue5", "5555"}}) {
    ASSERT_TRUE(custodian.expect("Press ENTER."));
    custodian.present(key);
    ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
    custodian.pin(pin);
  }
  const auto reply = host.reply(id);
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->status, Status::ok) << reply->message;
  EXPECT_TRUE(must(ped::ReadSecretResponse::parse(reply->payload)).secret == so_secret);
}

TEST_F(PedAdmin, DuplicateNeedsTheSourcePin) {
  enter_admin_mode();
  custodian.press(Keypad::d2);
  ASSERT_TRUE(custodian.expect("to duplicate."));
  custodian.present("blue3");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("1111");
  ASSERT_TRUE(custodian.expect("PED PIN incorrect."));
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Admin mode"));
  EXPECT_TRUE(folder.load("blank1").is_blank());
  EXPECT_TRUE(folder.load("blank2").is_blank());
}

TEST_F(PedAdmin, DuplicateOverANonBlankKeyAsksTwice) {
  enter_admin_mode();
  custodian.press(Keypad::d2);
  ASSERT_TRUE(custodian.expect("to duplicate."));
  custodian.present("blue5");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("5555");
  ASSERT_TRUE(custodian.expect("for the copy."));
  custodian.present("blue4");
  ASSERT_TRUE(
      custodian.expect("This PED key holds SO / HSM Admin PED Key (BLUE) Overwrite? YES/NO"));
  custodian.yes();
  ASSERT_TRUE(custodian.expect("Are you sure?"));
  custodian.no();
  ASSERT_TRUE(custodian.expect("Insert another key."));
  custodian.press(Keypad::back);
  ASSERT_TRUE(custodian.expect("Admin mode"));
  EXPECT_EQ(folder.load("blue4").split_index, 4);
}

TEST_F(PedAdmin, SelfTestAndLog) {
  enter_admin_mode();
  custodian.press(Keypad::d3);
  ASSERT_TRUE(custodian.expect("Self test passed."));
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Admin mode"));
  custodian.press(Keypad::log);
  ASSERT_TRUE(custodian.expect("PED LOG"));
  EXPECT_TRUE(lcd_shows(device->lcd(), "mode Admin"));
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Admin mode"));
  custodian.press(Keypad::back);
  ASSERT_TRUE(custodian.expect("Local PED-USB mode"));
}

TEST_F(PedAdmin, HostFlowsNeedRemoteMode) {
  enter_admin_mode();
  const auto reply =
      host.reply(host.send(Op::read_rpk_info, ped::ReadRpkInfoRequest{}.serialize()));
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, Status::not_in_remote_mode);
  EXPECT_NE(reply->message.find("Admin"), std::string::npos) << reply->message;
}

TEST_F(PedAdmin, HostCommandsAreBusyWhileAnAdminFlowRuns) {
  enter_admin_mode();
  custodian.press(Keypad::d1);
  ASSERT_TRUE(custodian.expect("to identify."));
  const auto reply = host.reply(host.send(Op::identify));
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, Status::busy);
  custodian.press(Keypad::back);
  ASSERT_TRUE(custodian.expect("Admin mode"));
}

}  // namespace
}  // namespace rped::pedsim::test
