// The admin endpoint's HTTP/1.1 request parser and response writer: pure functions, no I/O,
// no Asio, so they can be unit-tested and fuzzed on their own.
//
// FUZZ ENTRY POINT: `parse_http_request(std::string_view bytes)`. It accepts any bytes (no
// precondition, no terminating NUL needed), never throws, never reads outside `bytes`, and
// returns exactly one of: Incomplete (feed more bytes), HttpRequest (a whole request), or
// HttpError (the 4xx/5xx status to answer with before closing). A fuzz target is just:
//
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
//     poolbench::parse_http_request({reinterpret_cast<const char*>(data), size});
//     return 0;
//   }
//
// What it accepts (a strict subset of RFC 9112, enough for curl and scripts):
//   request line   METHOD SP request-target SP HTTP/1.x CRLF   (methods: uppercase tokens)
//   headers        name ":" OWS value OWS CRLF, names are tokens; no obsolete line folding
//   end            an empty line (CRLF); a bare LF ends lines too (lenient, as most servers)
//   body           only with Content-Length (one, all digits, <= kMaxBody); Transfer-Encoding
//                  is refused with 501; a target must be origin-form ("/path?query")
// Limits: the request line and headers together at most kMaxHeaderBytes (else 431; a request
// line longer than that: 414), at most kMaxHeaders headers (431), a body above kMaxBody: 413.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace poolbench::http {

inline constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
inline constexpr std::size_t kMaxHeaders = 64;
inline constexpr std::size_t kMaxBody = 4 * 1024;

struct Request {
  std::string method;                                        // "GET"
  std::string target;                                        // "/pool?size=4", as sent
  std::string path;                                          // "/pool" (percent-decoded)
  std::string query;                                         // "size=4" (raw, without '?')
  int version_minor = 1;                                     // HTTP/1.0 or HTTP/1.1
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::size_t consumed = 0;  // bytes of the input this request took (headers + body)

  // The first header with this (lower-case) name.
  std::optional<std::string_view> header(std::string_view lower_name) const;
  // The percent-decoded value of a query parameter ("size" in "size=4"); nullopt if absent.
  std::optional<std::string> query_parameter(std::string_view name) const;
  // How many times `name` appears in the query (a client that says size=3&size=5 is refused,
  // not taken at its first word).
  std::size_t query_parameter_count(std::string_view name) const;
};

struct Error {
  int status = 400;    // 400, 413, 414, 431, 501, 505
  std::string reason;  // a short human text for the body
};

struct Incomplete {};

using ParseResult = std::variant<Incomplete, Request, Error>;

// Never throws (see the fuzz note above).
ParseResult parse_http_request(std::string_view bytes) noexcept;

// "OK", "Not Found", ... ("Unknown" for a status it does not know).
std::string_view reason_phrase(int status);

// A complete response with Content-Length and "Connection: close". `extra_headers` are whole
// lines without CRLF ("Allow: GET").
std::string make_response(int status, std::string_view content_type, std::string_view body,
                          const std::vector<std::string>& extra_headers = {});

}  // namespace poolbench::http
