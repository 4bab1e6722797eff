// The LCD layout (word wrap to 21 columns, 8 lines) and custodian scripts
// (parsing every step, errors naming the line, running against a PED).
#include <gtest/gtest.h>

#include "pedsim_harness.h"
#include "rped/pedsim/constants.h"

namespace rped::pedsim::test {
namespace {

using namespace std::chrono_literals;
using rped::test::fails_with;
using rped::test::is_ok;

TEST(PedScreen, WrapsAtWordsWithinTwentyOneColumns) {
  EXPECT_EQ(
      wrap_to_lcd("Exiting now will invalidate the RPK. Confirm? YES/NO"),
      (std::vector<std::string>{"Exiting now will", "invalidate the RPK.", "Confirm? YES/NO"}));
  EXPECT_EQ(wrap_to_lcd(""), std::vector<std::string>{""});
  EXPECT_EQ(wrap_to_lcd("abcdefghijklmnopqrstuvwxyz"),
            (std::vector<std::string>{"abcdefghijklmnopqrstu", "vwxyz"}));
  for (const auto& line :
       wrap_to_lcd("a long sentence that needs several lines on the PED display")) {
    EXPECT_LE(line.size(), ped::kLcdColumns);
  }
}

TEST(PedScreen, ComposeKeepsEightLines) {
  std::vector<std::string> many;
  for (int i = 0; i < 12; ++i) {
    many.push_back("line " + std::to_string(i));
  }
  const Screen screen = compose(many);
  EXPECT_EQ(screen[0], "line 0");
  EXPECT_EQ(screen[7], "line 7");
}

TEST(PedScreen, ShowsTextAcrossWrappedLines) {
  const Screen screen = compose({"Exiting now will invalidate the RPK. Confirm? YES/NO"});
  EXPECT_TRUE(lcd_shows(screen, "will invalidate the RPK"));
  EXPECT_FALSE(lcd_shows(screen, "Remote"));
  const std::string box = boxed(screen);
  EXPECT_NE(box.find("|Exiting now will     |"), std::string::npos) << box;
}

TEST(CustodianScript, ParsesEveryStep) {
  const auto steps =
      must(parse_custodian_script("# a comment\n"
                                  "insert blue1\n"
                                  "remove\n"
                                  "press 7\n"
                                  "press <\n"
                                  "yes\n"
                                  "no\n"
                                  "enter   # trailing comment\n"
                                  "pin 1234\n"
                                  "pin\n"
                                  "mode remote\n"
                                  "exit-remote\n"
                                  "unplug\n"
                                  "replug\n"
                                  "wait 500ms\n"
                                  "expect Enter PED PIN:\n"
                                  "expect Keys read: 01 of 03 2s\n"
                                  "expect \"Key 1 of 2s\"\n"
                                  "expect \"# not a comment\" 1m\n"
                                  "\n"
                                  "quit\n"));
  ASSERT_EQ(steps.size(), 19u);
  EXPECT_EQ(steps[0].kind, StepKind::insert);
  EXPECT_EQ(steps[0].text, "blue1");
  EXPECT_EQ(steps[0].line, 2u);
  EXPECT_EQ(steps[2].key, Keypad::d7);
  EXPECT_EQ(steps[3].key, Keypad::back);
  EXPECT_EQ(steps[4].key, Keypad::yes);
  EXPECT_EQ(steps[5].key, Keypad::no);
  EXPECT_EQ(steps[6].key, Keypad::enter);
  EXPECT_EQ(steps[7].kind, StepKind::pin);
  EXPECT_EQ(steps[7].text, "1234");
  EXPECT_EQ(steps[8].text, "");
  EXPECT_EQ(steps[9].mode, ped::Mode::remote);
  EXPECT_EQ(steps[10].kind, StepKind::exit_remote);
  EXPECT_EQ(steps[11].kind, StepKind::unplug);
  EXPECT_EQ(steps[12].kind, StepKind::replug);
  EXPECT_EQ(steps[13].duration, 500ms);
  EXPECT_EQ(steps[14].text, "Enter PED PIN:");
  EXPECT_EQ(steps[14].duration, kDefaultExpectTimeout);
  EXPECT_EQ(steps[15].text, "Keys read: 01 of 03");
  EXPECT_EQ(steps[15].duration, 2s);
  EXPECT_EQ(steps[16].text, "Key 1 of 2s");
  EXPECT_EQ(steps[17].text, "# not a comment");
  EXPECT_EQ(steps[17].duration, 60s);
  EXPECT_EQ(steps[18].kind, StepKind::quit);
  EXPECT_EQ(steps[18].line, 21u);
}

TEST(CustodianScript, ErrorsNameTheLine) {
  const auto unknown = parse_custodian_script("yes\nfrobnicate\n");
  ASSERT_TRUE(fails_with(unknown, Errc::invalid_argument));
  EXPECT_NE(unknown.error().message.find("line 2"), std::string::npos) << unknown.error().message;
  EXPECT_NE(unknown.error().message.find("frobnicate"), std::string::npos);
  for (const char* bad : {"press 10", "pin 12a", "mode sleepy", "wait soon", "wait 5h",
                          "insert ../x", "expect", "expect \"open", "remove now", "quit 1"}) {
    EXPECT_TRUE(fails_with(parse_custodian_script(bad), Errc::invalid_argument)) << bad;
  }
  EXPECT_TRUE(fails_with(parse_duration("2"), Errc::invalid_argument));
  EXPECT_EQ(must(parse_duration("3s")), 3s);
}

TEST(CustodianScript, DrivesALogin) {
  KeyFolder folder;
  const SecretBytes secret = random_secret();
  folder.mint(ped::KeyType::black, "black", 1, 1, {"1234"}, secret);
  auto device = make_device(folder, ped::Mode::local);
  TestHost host(*device);
  const auto steps =
      must(parse_custodian_script("mode remote\n"
                                  "expect Remote PED mode\n"
                                  "expect \"Press ENTER.\"\n"
                                  "insert black1\n"
                                  "enter\n"
                                  "expect Enter PED PIN:\n"
                                  "pin 1234\n"
                                  "expect Awaiting command...\n"
                                  "quit\n"
                                  "insert never-reached\n"));
  std::vector<std::size_t> traced;
  ScriptHooks hooks;
  hooks.before_step = [&](const ScriptStep& step) { traced.push_back(step.line); };
  std::optional<std::uint32_t> id;
  std::thread runner([&] {
    // The host asks once the PED is in Remote PED mode.
    ASSERT_TRUE(is_ok(expect_lcd(*device, "Remote PED mode", kWait)));
    id = host.send(ped::Op::read_secret, read_secret_body(ped::KeyType::black));
  });
  const auto ended = run_custodian_script(*device, steps, hooks);
  runner.join();
  ASSERT_TRUE(is_ok(ended));
  EXPECT_EQ(ended.value(), ScriptEnd::quit);
  EXPECT_EQ(traced.back(), 9u);
  ASSERT_TRUE(id.has_value());
  const auto reply = host.reply(*id);
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->status, ped::Status::ok) << reply->message;
  EXPECT_TRUE(must(ped::ReadSecretResponse::parse(reply->payload)).secret == secret);
}

TEST(CustodianScript, AnExpectThatTimesOutFailsWithTheScreen) {
  KeyFolder folder;
  auto device = make_device(folder, ped::Mode::local);
  const auto steps = must(parse_custodian_script("\n\nexpect Something else 50ms\n"));
  const auto ended = run_custodian_script(*device, steps, {});
  ASSERT_TRUE(fails_with(ended, Errc::invalid_argument));
  EXPECT_NE(ended.error().message.find("line 3"), std::string::npos) << ended.error().message;
  EXPECT_NE(ended.error().message.find("Local PED-USB mode"), std::string::npos)
      << ended.error().message;
}

TEST(CustodianScript, ExitRemoteConfirmsWithYes) {
  KeyFolder folder;
  auto device = make_device(folder, ped::Mode::remote);
  TestHost host(*device);
  const auto steps = must(parse_custodian_script("exit-remote\nexpect Local PED-USB mode\n"));
  ASSERT_TRUE(is_ok(run_custodian_script(*device, steps, {})));
  EXPECT_TRUE(host.event(ped::Op::remote_mode_exited).has_value());
  EXPECT_EQ(device->mode(), ped::Mode::local);
}

TEST(CustodianScript, InsertingAMissingKeyFails) {
  KeyFolder folder;
  auto device = make_device(folder, ped::Mode::local);
  const auto ended =
      run_custodian_script(*device, must(parse_custodian_script("insert ghost\n")), {});
  ASSERT_TRUE(fails_with(ended, Errc::invalid_argument));
  EXPECT_NE(ended.error().message.find("ghost"), std::string::npos);
}

TEST(CustodianScript, KeypadNames) {
  for (const char* name : {"0", "9", "yes", "no", "enter", "clear", "<", ">"}) {
    EXPECT_TRUE(keypad_from_name(name).has_value()) << name;
  }
  EXPECT_FALSE(keypad_from_name("YES").has_value());
  EXPECT_FALSE(keypad_from_name("").has_value());
  EXPECT_EQ(keypad_from_name("<"), Keypad::back);
  EXPECT_EQ(keypad_from_name(">"), Keypad::log);
}

}  // namespace
}  // namespace rped::pedsim::test
