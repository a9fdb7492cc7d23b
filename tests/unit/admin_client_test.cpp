// loadgen's admin client: URL parsing and the histogram difference behind per-sample stages.
#include <gtest/gtest.h>

#include <stdexcept>

#include "admin_client.hpp"

namespace poolbench {
namespace {

TEST(AdminUrl, Spellings) {
  for (const char* text : {"http://127.0.0.1:9091", "http://127.0.0.1:9091/", "127.0.0.1:9091"}) {
    const AdminUrl url = parse_admin_url(text);
    EXPECT_EQ(url.host, "127.0.0.1") << text;
    EXPECT_EQ(url.port, 9091) << text;
    EXPECT_EQ(url.text, "http://127.0.0.1:9091") << text;
  }
  EXPECT_EQ(parse_admin_url("http://[::1]:80").host, "::1");
}

TEST(AdminUrl, Refusals) {
  for (const char* text : {"", "http://", "https://127.0.0.1:1", "http://127.0.0.1:9091/stats",
                           "http://127.0.0.1", "http://127.0.0.1:99999"}) {
    EXPECT_THROW(parse_admin_url(text), std::invalid_argument) << text;
  }
}

TEST(HistogramDifference, IsTheValuesRecordedInBetween) {
  Histogram earlier(1, 3'600'000'000'000, 3);
  for (int v : {5, 500, 50'000})
    earlier.record(v);
  Histogram later = earlier;
  for (int v : {7, 700, 70'000, 70'000})
    later.record(v);
  // As the sampler sees them: decoded from the server's V2 strings.
  const Histogram a = Histogram::decode_v2_base64(earlier.encode_v2_base64());
  const Histogram b = Histogram::decode_v2_base64(later.encode_v2_base64());
  const Histogram difference = histogram_difference(b, a);
  EXPECT_EQ(difference.total_count(), 4);
  EXPECT_EQ(difference.min(), 7);
  EXPECT_EQ(difference.max(), later.highest_equivalent_value(70'000));
  EXPECT_EQ(difference.value_at_percentile(50), 700);
  EXPECT_EQ(histogram_difference(b, b).total_count(), 0);
  EXPECT_EQ(histogram_difference(b, Histogram(1, 3'600'000'000'000, 3)).total_count(), 7);
}

TEST(HttpRequest, NothingListeningIsAClearError) {
  EXPECT_THROW(http_request(parse_admin_url("127.0.0.1:1"), "GET", "/stats"), std::runtime_error);
}

}  // namespace
}  // namespace poolbench
