// The admin endpoint's HTTP request parser (a pure function) and response writer.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "admin_http.hpp"

namespace poolbench::http {
namespace {

Request parse_ok(std::string_view bytes) {
  auto result = parse_http_request(bytes);
  if (auto* error = std::get_if<Error>(&result)) {
    ADD_FAILURE() << "unexpected error " << error->status << ": " << error->reason;
    return {};
  }
  if (std::holds_alternative<Incomplete>(result)) {
    ADD_FAILURE() << "unexpectedly incomplete";
    return {};
  }
  return std::get<Request>(result);
}

int status_of(std::string_view bytes) {
  auto result = parse_http_request(bytes);
  if (auto* error = std::get_if<Error>(&result)) return error->status;
  return std::holds_alternative<Incomplete>(result) ? 0 : 200;
}

TEST(HttpParse, WhatCurlSends) {
  const std::string bytes =
      "GET /stats HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\n\r\n";
  const Request r = parse_ok(bytes);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/stats");
  EXPECT_EQ(r.query, "");
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_EQ(r.header("host"), "127.0.0.1:8080");
  EXPECT_EQ(r.header("user-agent"), "curl/7.88.1");
  EXPECT_FALSE(r.header("content-length"));
  EXPECT_EQ(r.consumed, bytes.size());
}

TEST(HttpParse, PostWithQueryAndBody) {
  const Request r = parse_ok(
      "POST /pool?size=8&x=a%20b+c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
      "Content-Type: application/x-www-form-urlencoded\r\n\r\nabc");
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/pool");
  EXPECT_EQ(r.query, "size=8&x=a%20b+c");
  EXPECT_EQ(r.query_parameter("size"), "8");
  EXPECT_EQ(r.query_parameter("x"), "a b c");
  EXPECT_FALSE(r.query_parameter("y"));
  EXPECT_EQ(r.body, "abc");
}

TEST(HttpParse, HeaderNamesAreCaseInsensitiveAndValuesTrimmed) {
  const Request r = parse_ok("GET / HTTP/1.1\r\nHOST:   example \t\r\nX-Empty:\r\n\r\n");
  EXPECT_EQ(r.header("host"), "example");
  EXPECT_EQ(r.header("x-empty"), "");
}

TEST(HttpParse, Http10NeedsNoHostAndBareLfIsAccepted) {
  EXPECT_EQ(parse_ok("GET /healthz HTTP/1.0\r\n\r\n").version_minor, 0);
  EXPECT_EQ(parse_ok("GET /healthz HTTP/1.1\nHost: x\n\n").path, "/healthz");
}

TEST(HttpParse, IncompleteUntilTheBlankLineAndTheBody) {
  const std::string whole =
      "POST /pool?size=2 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
  for (std::size_t n = 0; n < whole.size(); ++n) {
    EXPECT_EQ(status_of(std::string_view(whole).substr(0, n)), 0) << "prefix of " << n;
  }
  EXPECT_EQ(status_of(whole), 200);
  // Bytes after the request (pipelining) are not part of it.
  EXPECT_EQ(parse_ok(whole + "GET / HTTP/1.1\r\n").consumed, whole.size());
}

TEST(HttpParse, PercentDecodedPath) {
  EXPECT_EQ(parse_ok("GET /st%61ts HTTP/1.1\r\nHost: h\r\n\r\n").path, "/stats");
  EXPECT_EQ(status_of("GET /bad%zz HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /bad% HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /bad%4 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST(HttpParse, MalformedRequestLinesAre400AtOnce) {
  // Refused as soon as the request line is complete: no need to wait for the headers.
  for (const char* bad :
       {"\r\n", "GET\r\n", "GET /\r\n", "GET  / HTTP/1.1\r\n", "GET / HTTP/1.1 \r\n",
        "G@T / HTTP/1.1\r\n", "GET stats HTTP/1.1\r\n", "GET http://x/ HTTP/1.1\r\n",
        "GET / HTTP/1\r\n", "GET / http/1.1\r\n", "GET / HTTP/1.x\r\n", "GET /\x01 HTTP/1.1\r\n",
        "GET /a\rb HTTP/1.1\r\n", "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n"}) {
    EXPECT_EQ(status_of(bad), 400) << bad;
  }
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\n"), 505);
  EXPECT_EQ(status_of("GET / HTTP/0.9\r\n"), 505);
}

TEST(HttpParse, MalformedHeadersAre400) {
  for (const char* bad :
       {"GET / HTTP/1.1\r\n\r\n",  // no Host
        "GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nName : x\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"}) {
    EXPECT_EQ(status_of(bad), 400) << bad;
  }
  // The same length twice is tolerated (RFC 9110 8.6).
  EXPECT_EQ(
      status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na"),
      200);
}

TEST(HttpParse, OversizedPartsGetTheirStatus) {
  EXPECT_EQ(status_of(std::string(kMaxHeaderBytes + 1, 'A')), 414);
  EXPECT_EQ(status_of("GET /" + std::string(kMaxHeaderBytes, 'a') + " HTTP/1.1\r\n"), 414);
  std::string big_header = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(kMaxHeaderBytes, 'x');
  EXPECT_EQ(status_of(big_header), 431);  // even before its line ends
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (std::size_t i = 0; i < kMaxHeaders; ++i)
    many += "X: y\r\n";
  EXPECT_EQ(status_of(many + "\r\n"), 431);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " +
                      std::to_string(kMaxBody + 1) + "\r\n\r\n"),
            413);
  EXPECT_EQ(
      status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
      413);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
}

TEST(HttpParse, AnyBytesGiveAnAnswerAndNeverCrash) {
  // A tiny deterministic fuzz: every prefix and every single-byte mutation of a valid request.
  const std::string base = "POST /pool?size=4 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok";
  for (std::size_t i = 0; i < base.size(); ++i) {
    for (int b : {0, int{'\r'}, int{'\n'}, int{' '}, int{':'}, int{'%'}, 0x7f, 0xff}) {
      std::string mutated = base;
      mutated[i] = static_cast<char>(b);
      const auto result = parse_http_request(mutated);
      if (const auto* request = std::get_if<Request>(&result)) {
        EXPECT_LE(request->consumed, mutated.size());
      }
    }
  }
}

TEST(HttpQuery, Parameters) {
  Request r;
  r.query = "a=1&size=&b&size=9";
  EXPECT_EQ(r.query_parameter("a"), "1");
  EXPECT_EQ(r.query_parameter("size"), "");  // the first one wins
  EXPECT_EQ(r.query_parameter("b"), "");
  EXPECT_EQ(r.query_parameter_count("size"), 2u);    // the admin endpoint refuses that
  EXPECT_EQ(r.query_parameter_count("s%69ze"), 0u);  // names are compared decoded
  EXPECT_EQ(r.query_parameter_count("b"), 1u);
  EXPECT_EQ(r.query_parameter_count("c"), 0u);
  r.query = "s%69ze=1&size=2";
  EXPECT_EQ(r.query_parameter_count("size"), 2u);  // an encoded name is the same name
  r.query = "size=%zz";
  EXPECT_EQ(r.query_parameter("size"), "%zz");  // a bad escape stays raw for the caller to refuse
}

TEST(HttpResponse, StatusLineHeadersAndBody) {
  EXPECT_EQ(make_response(405, "text/plain", "no\n", {"Allow: POST"}),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Cache-Control: no-store\r\nAllow: POST\r\nConnection: close\r\n\r\nno\n");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
}

}  // namespace
}  // namespace poolbench::http
