#include "admin_http.hpp"

#include <algorithm>
#include <charconv>

namespace poolbench::http {
namespace {

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar);
}

// VCHAR and obs-text (any byte >= 0x80), i.e. no control character, no space.
bool is_visible(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}

bool is_field_char(char c) {
  return is_visible(c) || c == ' ' || c == '\t';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; nullopt for a '%' not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;  // needs two hex digits after '%'
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// One line ending at LF (CRLF or bare LF); nullopt while the LF has not arrived. A CR
// anywhere else in the line is an error, reported by `bad_cr`.
struct Line {
  std::string_view text;  // without the line end
  std::size_t next = 0;   // offset after the line end
  bool bad_cr = false;
};

std::optional<Line> next_line(std::string_view bytes, std::size_t from) {
  const auto lf = bytes.find('\n', from);
  if (lf == std::string_view::npos) return std::nullopt;
  std::string_view text = bytes.substr(from, lf - from);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return Line{text, lf + 1, text.find('\r') != std::string_view::npos};
}

// Request line -> request fields, or the error to answer with.
std::optional<Error> parse_request_line(std::string_view line, Request& request) {
  const auto first_space = line.find(' ');
  if (first_space == std::string_view::npos) return Error{400, "malformed request line"};
  const auto second_space = line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos) return Error{400, "malformed request line"};
  const std::string_view method = line.substr(0, first_space);
  const std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  const std::string_view version = line.substr(second_space + 1);
  if (!is_token(method)) return Error{400, "malformed method"};
  if (target.empty() || !std::all_of(target.begin(), target.end(), is_visible)) {
    return Error{400, "malformed request target"};
  }
  if (target.front() != '/') return Error{400, "request target must be a path (origin-form)"};
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Error{400, "malformed HTTP version"};
  }
  if (version[5] != '1') return Error{505, "only HTTP/1.x is supported"};
  request.method = method;
  request.target = target;
  request.version_minor = version[7] - '0';
  const auto question = target.find('?');
  const auto raw_path = target.substr(0, question);
  if (question != std::string_view::npos) request.query = target.substr(question + 1);
  auto path = percent_decode(raw_path, false);
  if (!path) return Error{400, "bad percent-encoding in the path"};
  request.path = std::move(*path);
  return std::nullopt;
}

// One header line (not the empty one that ends them) into `request.headers`.
std::optional<Error> add_header(std::string_view text, Request& request) {
  if (text.front() == ' ' || text.front() == '\t') {
    return Error{400, "obsolete header line folding"};
  }
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return Error{400, "header without ':'"};
  const std::string_view name = text.substr(0, colon);
  const std::string_view value = trim_ows(text.substr(colon + 1));
  if (!is_token(name)) return Error{400, "malformed header name"};
  if (!std::all_of(value.begin(), value.end(), is_field_char)) {
    return Error{400, "control character in a header value"};
  }
  if (request.headers.size() == kMaxHeaders) return Error{431, "too many headers"};
  request.headers.emplace_back(lower(name), std::string(value));
  return std::nullopt;
}

// The body's length from every Content-Length header (0 without one); they must agree.
std::optional<Error> read_content_length(const Request& request, std::size_t& content_length) {
  bool seen_length = false;
  for (const auto& [name, value] : request.headers) {
    if (name != "content-length") continue;
    std::size_t length = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (value.empty() || error == std::errc::result_out_of_range) {
      if (error == std::errc::result_out_of_range &&
          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return Error{413, "request body too large"};
      }
      return Error{400, "malformed Content-Length"};
    }
    if (error != std::errc() || end != value.data() + value.size()) {
      return Error{400, "malformed Content-Length"};
    }
    if (seen_length && length != content_length) return Error{400, "conflicting Content-Length"};
    seen_length = true;
    content_length = length;
  }
  return std::nullopt;
}

ParseResult parse(std::string_view bytes) {
  Request request;
  // The request line: validated as soon as it is complete, so garbage is refused at once.
  const auto request_line = next_line(bytes, 0);
  if (!request_line) {
    if (bytes.size() > kMaxHeaderBytes) return Error{414, "request line too long"};
    return Incomplete{};
  }
  if (request_line->next > kMaxHeaderBytes) return Error{414, "request line too long"};
  if (request_line->bad_cr) return Error{400, "stray CR in the request line"};
  if (auto error = parse_request_line(request_line->text, request)) return *error;

  std::size_t offset = request_line->next;
  for (;;) {
    const auto line = next_line(bytes, offset);
    if (!line) {
      if (bytes.size() > kMaxHeaderBytes) return Error{431, "request headers too large"};
      return Incomplete{};
    }
    if (line->next > kMaxHeaderBytes) return Error{431, "request headers too large"};
    if (line->bad_cr) return Error{400, "stray CR in a header"};
    offset = line->next;
    if (line->text.empty()) break;  // end of the headers
    if (auto error = add_header(line->text, request)) return *error;
  }

  if (request.version_minor == 1 && !request.header("host")) {
    return Error{400, "HTTP/1.1 request without Host"};
  }
  if (request.header("transfer-encoding")) {
    return Error{501, "Transfer-Encoding is not supported; send Content-Length"};
  }
  std::size_t content_length = 0;
  if (auto error = read_content_length(request, content_length)) return *error;
  if (content_length > kMaxBody) return Error{413, "request body too large"};
  if (bytes.size() - offset < content_length) return Incomplete{};
  request.body = bytes.substr(offset, content_length);
  request.consumed = offset + content_length;
  return request;
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return std::string_view(value);
  }
  return std::nullopt;
}

namespace {

// Calls visit(pair) for each "name=value" (or bare "name") pair of `query` whose decoded name is
// `name`, until it returns false.
template <typename Visit>
void visit_query_parameters(std::string_view query, std::string_view name, Visit visit) {
  std::string_view rest = query;
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const auto key = percent_decode(pair.substr(0, pair.find('=')), true);
    if (key && *key == name && !visit(pair)) return;
  }
}

}  // namespace

std::optional<std::string> Request::query_parameter(std::string_view name) const {
  std::optional<std::string> found;
  visit_query_parameters(query, name, [&found](std::string_view pair) {
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos) {
      found.emplace();
    } else {
      const std::string_view raw = pair.substr(equals + 1);
      auto value = percent_decode(raw, true);
      found = value ? *value : std::string(raw);  // a bad escape stays raw: the caller rejects it
    }
    return false;  // the first one
  });
  return found;
}

std::size_t Request::query_parameter_count(std::string_view name) const {
  std::size_t count = 0;
  visit_query_parameters(query, name, [&count](std::string_view) {
    ++count;
    return true;
  });
  return count;
}

ParseResult parse_http_request(std::string_view bytes) noexcept {
  try {
    return parse(bytes);
  } catch (...) {  // std::bad_alloc: nothing else in parse() throws
    return Error{500, "out of memory"};
  }
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string make_response(int status, std::string_view content_type, std::string_view body,
                          const std::vector<std::string>& extra_headers) {
  std::string out;
  out.reserve(160 + body.size());
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
  out.append(reason_phrase(status)).append("\r\n");
  out.append("Content-Type: ").append(content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  out.append("Cache-Control: no-store\r\n");
  for (const auto& header : extra_headers)
    out.append(header).append("\r\n");
  out.append("Connection: close\r\n\r\n");
  out.append(body);
  return out;
}

}  // namespace poolbench::http
