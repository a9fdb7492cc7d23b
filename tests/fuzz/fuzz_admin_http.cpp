// libFuzzer target: the admin endpoint's HTTP request parser (http::parse_http_request,
// reference_server/admin_http.hpp). Any bytes: no throw, no read outside the input, exactly one
// outcome; a request takes at most the bytes given, and parsing a prefix of the bytes it took
// never yields a different request.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "admin_http.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace http = poolbench::http;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const http::ParseResult result = http::parse_http_request(bytes);
  if (const auto* request = std::get_if<http::Request>(&result)) {
    if (request->consumed == 0 || request->consumed > size) std::abort();
    if (request->body.size() > http::kMaxBody) std::abort();
    if (request->headers.size() > http::kMaxHeaders) std::abort();
    // The same request, given exactly the bytes it took, parses the same.
    const http::ParseResult again = http::parse_http_request(bytes.substr(0, request->consumed));
    const auto* same = std::get_if<http::Request>(&again);
    if (same == nullptr || same->consumed != request->consumed || same->target != request->target ||
        same->body != request->body) {
      std::abort();
    }
  } else if (const auto* error = std::get_if<http::Error>(&result)) {
    if (error->status < 400 || error->status > 599) std::abort();
  }
  return 0;
}
