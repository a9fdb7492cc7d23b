// The database client's pieces that need no database: --db URLs and what each error number
// means. Against a real MariaDB: tests/integration/database_test.cpp.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "sql_client.hpp"

namespace poolbench {
namespace {

TEST(DbUrl, ReadsEveryPartOfATcpUrl) {
  const DbUrl url = DbUrl::parse("mysql://app:secret@127.0.0.1:3307/shop");
  EXPECT_EQ(url.user, "app");
  EXPECT_EQ(url.password, "secret");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 3307u);
  EXPECT_EQ(url.database, "shop");
  EXPECT_TRUE(url.socket.empty());
  EXPECT_EQ(url.to_string(), "mysql://app:***@127.0.0.1:3307/shop");  // never the password
}

TEST(DbUrl, DefaultsThePortAndTakesASocket) {
  EXPECT_EQ(DbUrl::parse("mysql://app@db.example/shop").port, 3306u);
  const DbUrl url = DbUrl::parse("mysql://app@localhost/shop?socket=/run/x/mysqld.sock");
  EXPECT_EQ(url.socket, "/run/x/mysqld.sock");
  EXPECT_EQ(DbUrl::parse("mysql://app@/shop?socket=/s").socket, "/s");
}

TEST(DbUrl, RefusesWhatIsNotOneWithTheExpectedForm) {
  for (const char* bad :
       {"", "postgres://a@h/d", "mysql://h/d", "mysql://@h/d", "mysql://a@h", "mysql://a@h/",
        "mysql://a@h:0/d", "mysql://a@h:65536/d", "mysql://a@h:x/d", "mysql://a@/d",
        "mysql://a@h/d?sock=/s", "mysql://a@h/d?socket="}) {
    try {
      DbUrl::parse(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& error) {
      EXPECT_EQ(std::string(error.what()),
                std::string("bad --db URL '") + bad +
                    "': expected mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?socket=PATH]");
    }
  }
}

TEST(SqlErrors, EachNumberHasAKindAndOnlyBrokenConnectionsAreDropped) {
  EXPECT_EQ(sql_error_kind(2003), "cannot_connect");
  EXPECT_EQ(sql_error_kind(1045), "access_denied");
  EXPECT_EQ(sql_error_kind(1040), "too_many_connections");
  EXPECT_EQ(sql_error_kind(2013), "connection_lost");
  EXPECT_EQ(sql_error_kind(1205), "lock_wait_timeout");
  EXPECT_EQ(sql_error_kind(1213), "deadlock");
  EXPECT_EQ(sql_error_kind(1064), "statement");
  EXPECT_EQ(sql_error_kind(2027), "client");
  EXPECT_TRUE(sql_error_drops_connection(2013));
  EXPECT_TRUE(sql_error_drops_connection(1927));   // killed by the server
  EXPECT_FALSE(sql_error_drops_connection(1205));  // a lock wait: the connection is fine
  EXPECT_FALSE(sql_error_drops_connection(1064));
}

}  // namespace
}  // namespace poolbench
