// The statement of a sql: work part: names, placeholders and how keys are drawn. (The grammar's
// shared cases, accepted and refused by both servers, are in tests/data/work_specs.json.)
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>

#include "sql_statement.hpp"

namespace poolbench {
namespace {

TEST(SqlStatement, ANameStandsForItsStatementAndKeepsItsSpelling) {
  const SqlStatement named = SqlStatement::parse("hot-update");
  EXPECT_EQ(named.spelling(), "hot-update");
  EXPECT_EQ(named.statement(), "UPDATE kv SET n=n+1 WHERE id={rand:8}");
  const SqlStatement given = SqlStatement::parse("SELECT 1");
  EXPECT_EQ(given.spelling(), "SELECT 1");
  EXPECT_EQ(given.statement(), "SELECT 1");
}

TEST(SqlStatement, KeysAreDrawnWithinTheirRanges) {
  const SqlStatement statement = SqlStatement::parse("SELECT {rand}, {rand:3}");
  std::mt19937_64 random(7);
  std::set<std::string> small_keys;
  for (int i = 0; i < 2000; ++i) {
    RequestKeys drawn;
    const std::string text = statement.render(random, 50, drawn);
    const auto comma = text.find(',');
    const long key = std::stol(text.substr(7, comma - 7));
    EXPECT_GE(key, 1);
    EXPECT_LE(key, 50);
    small_keys.insert(text.substr(comma + 2));
  }
  EXPECT_EQ(small_keys, (std::set<std::string>{"1", "2", "3"}));  // all of 1..3, nothing else
}

TEST(SqlStatement, TheSamePlaceholderTwiceIsTheSameKey) {
  const SqlStatement range = SqlStatement::parse("range-scan");
  std::mt19937_64 random(1);
  for (int i = 0; i < 100; ++i) {
    RequestKeys drawn;
    const std::string text = range.render(random, 100000, drawn);
    const auto between = text.find("BETWEEN ") + 8;
    const auto and_at = text.find(" AND ", between);
    const std::string low = text.substr(between, and_at - between);
    EXPECT_EQ(text.substr(and_at + 5), low + "+9999") << text;
  }
}

TEST(SqlStatement, TheSqlPartsOfOneRequestShareTheirKeys) {
  const SqlStatement read = SqlStatement::parse("SELECT v FROM kv WHERE id={rand}");
  const SqlStatement write = SqlStatement::parse("UPDATE kv SET n=n+1 WHERE id={rand}");
  std::mt19937_64 random(3);
  std::set<std::string> keys;
  for (int i = 0; i < 50; ++i) {
    RequestKeys drawn;  // one request
    const auto key_of = [](const std::string& text) { return text.substr(text.rfind('=') + 1); };
    const std::string key = key_of(read.render(random, 1000, drawn));
    EXPECT_EQ(key_of(write.render(random, 1000, drawn)), key);
    keys.insert(key);
  }
  EXPECT_GT(keys.size(), 1u);  // and the next request draws again
}

TEST(SqlStatement, TheCheckAtStartSeesEveryPlaceholderAsOne) {
  EXPECT_EQ(SqlStatement::parse("range-scan").render_with_ones(),
            "SELECT COUNT(*),SUM(n) FROM kv WHERE id BETWEEN 1 AND 1+9999");
}

TEST(SqlStatement, UnknownPlaceholdersAreRefusedWithTheirText) {
  EXPECT_THROW(SqlStatement::parse(""), std::invalid_argument);
  for (const char* bad : {"SELECT {key}", "SELECT {rand:}", "SELECT {rand:-1}", "SELECT {"}) {
    try {
      SqlStatement::parse(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("unknown placeholder '{"), std::string::npos)
          << error.what();
    }
  }
}

}  // namespace
}  // namespace poolbench
