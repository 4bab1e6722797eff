// PED emulator: read_secret (login) with M of N splits and PINs, and every
// way a login ends early. In-process: a TestHost sends frames, a Custodian
// works the keypad and waits for screens.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "pedsim_harness.h"

namespace rped::pedsim::test {
namespace {

using namespace std::chrono_literals;
using ped::KeyType;
using ped::Op;
using ped::Status;

class PedLogin : public ::testing::Test {
 protected:
  KeyFolder folder;
  SecretBytes so_secret = random_secret();
  SecretBytes user_secret = random_secret(48);
  WrittenKeyset blue =
      folder.mint(KeyType::blue, "blue", 3, 5, {"1111", "2222", "3333", "4444", "5555"}, so_secret);
  WrittenKeyset black = folder.mint(KeyType::black, "black", 1, 1, {"1234"}, user_secret);
  std::unique_ptr<PedDevice> device = make_device(folder);
  TestHost host{*device};
  Custodian custodian{*device};

  ped::ReadSecretResponse ok_secret(std::uint32_t id) {
    auto reply = host.reply(id);
    EXPECT_TRUE(reply.has_value());
    if (!reply) {
      return {};
    }
    EXPECT_EQ(reply->status, Status::ok) << reply->message;
    return must(ped::ReadSecretResponse::parse(reply->payload));
  }

  Status status_of(std::uint32_t id) {
    auto reply = host.reply(id);
    EXPECT_TRUE(reply.has_value()) << "no response to request " << id;
    return reply ? reply->status : Status::internal;
  }
};

TEST_F(PedLogin, OneOfOneWithPin) {
  const auto id =
      host.send(Op::read_secret, read_secret_body(KeyType::black, "SLOT 01 / USER LOGIN..."));
  ASSERT_TRUE(custodian.expect("Insert a Crypto Officer/User PED Key (BLACK) Press ENTER."));
  custodian.insert("black1");
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("1234");
  const auto response = ok_secret(id);
  EXPECT_EQ(response.m, 1);
  EXPECT_EQ(response.n, 1);
  EXPECT_EQ(response.keyset_id, black.keyset_id);
  EXPECT_TRUE(response.secret == user_secret);
}

TEST_F(PedLogin, ShowsTheDocumentedPromptLineByLine) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue, "SLOT / SO LOGIN..."));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  const Screen lcd = device->lcd();
  EXPECT_EQ(lcd[0], "SLOT");
  EXPECT_EQ(lcd[1], "SO LOGIN...");
  EXPECT_EQ(lcd[2], "Insert a");
  EXPECT_EQ(lcd[3], "SO / HSM Admin");
  EXPECT_EQ(lcd[4], "PED Key (BLUE)");
  EXPECT_EQ(lcd[5], "Press ENTER.");
  custodian.press(Keypad::back);
  EXPECT_EQ(status_of(id), Status::cancelled);
}

TEST_F(PedLogin, ThreeOfFiveWithPins) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Insert a SO / HSM Admin PED Key (BLUE)"));
  custodian.present("blue2");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("2222");
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 03"));
  custodian.present("blue5");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("5555");
  ASSERT_TRUE(custodian.expect("Keys read: 02 of 03"));
  custodian.present("blue3");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("3333");
  const auto response = ok_secret(id);
  EXPECT_EQ(response.m, 3);
  EXPECT_EQ(response.n, 5);
  EXPECT_EQ(response.keyset_id, blue.keyset_id);
  EXPECT_TRUE(response.secret == so_secret);
}

TEST_F(PedLogin, WrongPinIsReportedOnlyAfterTheMthKey) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("blue1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("9999");  // wrong
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 03"));
  EXPECT_FALSE(host.has_reply(id)) << "a wrong PIN must not show before all M keys are read";
  custodian.present("blue2");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("2222");
  ASSERT_TRUE(custodian.expect("Keys read: 02 of 03"));
  EXPECT_FALSE(host.has_reply(id)) << "a wrong PIN must not show before all M keys are read";
  custodian.present("blue3");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("3333");
  EXPECT_EQ(status_of(id), Status::pin_incorrect);
}

TEST_F(PedLogin, WrongKeyTypeEndsTheLogin) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("black1");
  const auto reply = host.reply(id);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, Status::wrong_key_type);
  EXPECT_NE(reply->message.find("Crypto Officer/User"), std::string::npos) << reply->message;
}

TEST_F(PedLogin, TheSameSplitTwiceIsRefused) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("blue4");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("4444");
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 03"));
  custodian.present("blue4");
  EXPECT_EQ(status_of(id), Status::duplicate_split);
}

TEST_F(PedLogin, ADuplicateKeyOfTheSameSplitIsRefused) {
  // A true copy of blue1 on another key is still split 1.
  ASSERT_TRUE(rped::test::is_ok(folder.keys().store(
      "blue1copy", duplicate_key_record(folder.load("blue1"), "c0ffee000001"))));
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("blue1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("1111");
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 03"));
  custodian.present("blue1copy");
  EXPECT_EQ(status_of(id), Status::duplicate_split);
}

TEST_F(PedLogin, ASplitOfAnotherKeysetIsAMismatch) {
  folder.mint(KeyType::blue, "otherblue", 2, 2, {}, random_secret());
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("blue1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("1111");
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 03"));
  custodian.present("otherblue1");
  EXPECT_EQ(status_of(id), Status::keyset_mismatch);
}

TEST_F(PedLogin, ABlankKeyHoldsNoSecret) {
  folder.blank("blank1");
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("blank1");
  EXPECT_EQ(status_of(id), Status::blank_key);
}

TEST_F(PedLogin, EnterWithoutAKeyAsksAgain) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::black));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.enter();
  ASSERT_TRUE(custodian.expect("No PED key found."));
  custodian.insert("black1");
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("1234");
  EXPECT_TRUE(ok_secret(id).secret == user_secret);
}

TEST_F(PedLogin, KeyRemovedWhileItsPinIsTyped) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("blue1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.digits("11");
  custodian.remove();
  EXPECT_EQ(status_of(id), Status::key_removed);
}

TEST_F(PedLogin, KeypressesAndKeyMovesAreTakenInOrder) {
  // No waits between the steps: the PED still reads blue1 with its PIN, then blue2, then blue3.
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  custodian.present("blue1");
  custodian.pin("1111");
  custodian.present("blue2");
  custodian.pin("2222");
  custodian.present("blue3");
  custodian.pin("3333");
  EXPECT_TRUE(ok_secret(id).secret == so_secret);
}

TEST_F(PedLogin, TimesOutWithoutTheCustodian) {
  const auto started = std::chrono::steady_clock::now();
  const auto id =
      host.send(Op::read_secret, read_secret_body(KeyType::blue, "SLOT 01 / SO LOGIN...", 300));
  const auto reply = host.reply(id);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, Status::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
}

TEST_F(PedLogin, TheTimeoutBoundsTheWholeOperationNotEachPrompt) {
  // Keypresses that answer nothing do not extend the operation: the host's
  // wait (timeout_ms plus its margin) stays valid.
  const auto started = std::chrono::steady_clock::now();
  const auto id =
      host.send(Op::read_secret, read_secret_body(KeyType::blue, "SLOT 01 / SO LOGIN...", 400));
  while (!host.has_reply(id) && std::chrono::steady_clock::now() - started < kWait) {
    custodian.press(Keypad::clear);
    std::this_thread::sleep_for(20ms);  // a custodian's pace, not synchronisation
  }
  const auto reply = host.reply(id);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, Status::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

TEST_F(PedLogin, HostCancelEndsTheFlow) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  const auto cancel = host.send(Op::cancel);
  EXPECT_EQ(status_of(cancel), Status::ok);
  EXPECT_EQ(status_of(id), Status::cancelled);
  ASSERT_TRUE(custodian.expect("Awaiting command..."));
}

TEST_F(PedLogin, CustodianNoCancels) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::blue));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.no();
  EXPECT_EQ(status_of(id), Status::cancelled);
}

TEST_F(PedLogin, ASecondCommandIsBusy) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::black));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  EXPECT_EQ(status_of(host.send(Op::read_secret, read_secret_body(KeyType::black))), Status::busy);
  EXPECT_EQ(status_of(host.send(Op::identify)), Status::busy);
  custodian.present("black1");
  custodian.pin("1234");
  EXPECT_TRUE(ok_secret(id).secret == user_secret);
  // Idle again: the next command runs.
  EXPECT_EQ(status_of(host.send(Op::identify)), Status::ok);
}

TEST_F(PedLogin, UnplugMidOperationDropsTheResponseAndReplugWorks) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::black));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.insert("black1");
  custodian.enter();
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  host.detach();
  // The PED restarts in its initial mode; the flow's response goes nowhere.
  ASSERT_TRUE(custodian.expect("Awaiting command..."));
  host.attach();
  EXPECT_FALSE(host.has_reply(id));
  EXPECT_EQ(status_of(host.send(Op::identify)), Status::ok);
  const auto again = host.send(Op::read_secret, read_secret_body(KeyType::black));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.enter();  // the key stayed in the port through the unplug
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("1234");
  EXPECT_TRUE(ok_secret(again).secret == user_secret);
  EXPECT_FALSE(host.has_reply(id));
}

TEST_F(PedLogin, DisplayEventsMirrorTheLcdAndNeverShowPinDigits) {
  const auto id = host.send(Op::read_secret, read_secret_body(KeyType::black));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("black1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("1234");
  EXPECT_TRUE(ok_secret(id).secret == user_secret);
  ASSERT_TRUE(custodian.expect("Awaiting command..."));
  // The idle screen's display event may still be on its way.
  std::vector<ped::DisplayEvent> displays;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& d : host.displays()) {
      displays.push_back(std::move(d));
    }
    if (!displays.empty() && displays.back().lines == device->lcd()) {
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_FALSE(displays.empty());
  EXPECT_EQ(displays.back().lines, device->lcd());
  bool saw_mask = false;
  for (const auto& d : displays) {
    for (const auto& line : d.lines) {
      EXPECT_EQ(line.find("1234"), std::string::npos) << line;
      saw_mask = saw_mask || line == "****";
    }
  }
  EXPECT_TRUE(saw_mask);
  EXPECT_EQ(host.malformed(), 0);
}

TEST_F(PedLogin, OrangeKeysAreNotReadBack) {
  EXPECT_EQ(status_of(host.send(Op::read_secret, read_secret_body(KeyType::orange))),
            Status::bad_request);
}

TEST_F(PedLogin, AMalformedRequestIsBadRequest) {
  Bytes body = read_secret_body(KeyType::blue);
  body.push_back(0);  // trailing byte
  EXPECT_EQ(status_of(host.send(Op::read_secret, body)), Status::bad_request);
  EXPECT_EQ(status_of(host.send(Op::identify, Bytes{1})), Status::bad_request);
}

TEST_F(PedLogin, GarbageFramesAreIgnored) {
  device->on_host_frame(Bytes{0, 0, 0, 1, 9});
  device->on_host_frame(Bytes{});
  EXPECT_EQ(status_of(host.send(Op::identify)), Status::ok);
}

}  // namespace
}  // namespace rped::pedsim::test
