#include "sweep.hpp"

#include <gtest/gtest.h>

namespace poolbench {
namespace {

using Words = std::vector<std::string>;

TEST(SplitCommand, SplitsOnWhitespaceAndHonoursQuotes) {
  EXPECT_EQ(split_command("server --port {port}  --work sleep:10ms"),
            (Words{"server", "--port", "{port}", "--work", "sleep:10ms"}));
  EXPECT_EQ(split_command("python3 'my server.py' --name \"a b\" ''"),
            (Words{"python3", "my server.py", "--name", "a b", ""}));
  EXPECT_THROW(split_command("server 'unterminated"), std::invalid_argument);
  EXPECT_THROW(split_command("   "), std::invalid_argument);
}

TEST(SubstitutePlaceholders, ReplacesWholeArgumentsOnly) {
  const Words words{"server", "--port", "{port}", "--x={port}", "{mode}", "{pool}"};
  EXPECT_EQ(
      substitute_placeholders(words, {{"{port}", "9"}, {"{mode}", "inline"}, {"{pool}", "4"}}),
      (Words{"server", "--port", "9", "--x={port}", "inline", "4"}));
}

}  // namespace
}  // namespace poolbench
