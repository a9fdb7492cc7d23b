#include "sql_statement.hpp"

#include <algorithm>
#include <stdexcept>

namespace poolbench {
namespace {

constexpr std::int64_t kLargestRange = 2147483647;

std::string unknown_placeholder(std::string_view text) {
  return std::string("unknown placeholder '")
      .append(text)
      .append("' (expected {rand} or {rand:N}, N from 1 to 2147483647)");
}

// {rand} -> 0, {rand:N} -> N; anything else throws.
std::int64_t range_of(std::string_view placeholder) {
  if (placeholder == "{rand}") return 0;
  const std::string_view prefix = "{rand:";
  if (!placeholder.starts_with(prefix) || !placeholder.ends_with('}')) {
    throw std::invalid_argument(unknown_placeholder(placeholder));
  }
  const std::string_view digits =
      placeholder.substr(prefix.size(), placeholder.size() - prefix.size() - 1);
  std::int64_t n = 0;
  const bool all_digits =
      !digits.empty() && digits.size() <= 10 &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (all_digits) {
    for (const char c : digits)
      n = n * 10 + (c - '0');
  }
  if (!all_digits || n < 1 || n > kLargestRange) {
    throw std::invalid_argument(unknown_placeholder(placeholder));
  }
  return n;
}

}  // namespace

SqlStatement SqlStatement::parse(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("no statement after 'sql:'");
  SqlStatement parsed;
  parsed.spelling_ = std::string(text);
  parsed.statement_ = std::string(text);
  for (const auto& named : kNamedStatements) {
    if (text == named.name) parsed.statement_ = std::string(named.statement);
  }
  std::string_view rest = parsed.statement_;
  for (;;) {
    const auto open = rest.find('{');
    if (open == std::string_view::npos) break;
    const auto close = rest.find('}', open);
    const std::string_view placeholder =
        close == std::string_view::npos ? rest.substr(open) : rest.substr(open, close - open + 1);
    parsed.pieces_.push_back({std::string(rest.substr(0, open)), range_of(placeholder)});
    rest.remove_prefix(close + 1);
  }
  parsed.pieces_.push_back({std::string(rest), Piece::kNone});
  return parsed;
}

std::string SqlStatement::render(std::mt19937_64& random, std::int64_t keys,
                                 RequestKeys& drawn) const {
  const auto key_for = [&](std::int64_t range) {
    for (const auto& [known, key] : drawn) {
      if (known == range) return key;
    }
    const std::int64_t upper = std::max<std::int64_t>(1, range == 0 ? keys : range);
    drawn.emplace_back(range, std::uniform_int_distribution<std::int64_t>(1, upper)(random));
    return drawn.back().second;
  };
  std::string out;
  out.reserve(statement_.size() + 16);
  for (const Piece& piece : pieces_) {
    out.append(piece.text);
    if (piece.range != Piece::kNone) out.append(std::to_string(key_for(piece.range)));
  }
  return out;
}

std::string SqlStatement::render_with_ones() const {
  std::string out;
  for (const Piece& piece : pieces_) {
    out.append(piece.text);
    if (piece.range != Piece::kNone) out.push_back('1');
  }
  return out;
}

}  // namespace poolbench
