// Test support: the JSON schemas documented as markdown tables in results/README.md, read back
// so tests can check that what the programs write and what the README says are the same.
//
// A table row is "| `path` | type | meaning |"; a path may hold one brace group
// ("a.{x,y}.b" stands for a.x.b and a.y.b) and "name[]" for every element of an array; a row
// may name several paths, "`a.b`, `c`", where a name without a dot is a sibling of the first.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace poolbench::testing {

// "a.{x,y}.b" -> {"a.x.b", "a.y.b"}.
inline std::vector<std::string> expand_braces(const std::string& path) {
  const auto open = path.find('{');
  if (open == std::string::npos) return {path};
  const auto close = path.find('}', open);
  std::vector<std::string> paths;
  std::stringstream alternatives(path.substr(open + 1, close - open - 1));
  for (std::string alternative; std::getline(alternatives, alternative, ',');) {
    paths.push_back(path.substr(0, open) + alternative + path.substr(close + 1));
  }
  return paths;
}

// path -> type, from the table under the heading that contains `heading`.
inline std::map<std::string, std::string> documented_fields(const std::string& heading) {
  std::ifstream in(std::string(POOLBENCH_SOURCE_DIR) + "/results/README.md");
  EXPECT_TRUE(in) << "results/README.md is missing";
  std::map<std::string, std::string> fields;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#", 0) == 0) in_section = line.find(heading) != std::string::npos;
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    // The first cell lists one path or several: "`a.b.x`, `y`" stands for a.b.x and a.b.y.
    const auto cell_end = line.find(" |", 2);
    std::vector<std::string> paths;
    for (auto open = line.find('`', 2); open < cell_end; open = line.find('`', open + 1)) {
      const auto close = line.find('`', open + 1);
      std::string name = line.substr(open + 1, close - open - 1);
      if (!paths.empty() && name.find('.') == std::string::npos) {
        name = paths.front().substr(0, paths.front().rfind('.') + 1) + name;
      }
      paths.push_back(name);
      open = close;
    }
    const auto path_end = line.rfind('`', cell_end);
    const auto type_begin = line.find('|', path_end) + 1;
    const auto type_end = line.find(" |", type_begin + 1);
    std::string type = line.substr(type_begin, type_end - type_begin);
    type.erase(0, type.find_first_not_of(' '));
    type.erase(type.find_last_not_of(' ') + 1);
    for (auto pos = type.find("\\|"); pos != std::string::npos; pos = type.find("\\|")) {
      type.replace(pos, 2, "|");
    }
    for (const std::string& path : paths) {
      for (const std::string& p : expand_braces(path))
        fields[p] = type;
    }
  }
  return fields;
}

inline bool has_type(const nlohmann::json& value, const std::string& type) {
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "array|string") return value.is_array() || value.is_string();
  if (type == "string|null") return value.is_string() || value.is_null();
  if (type == "number|null") return value.is_number() || value.is_null();
  ADD_FAILURE() << "unknown type in the README table: " << type;
  return false;
}

// Every field of `doc` by path ("a.b"; the elements of an array of objects as "a[]"), with its
// value (an array's last element's). Fields for which `opaque` is true are listed but not
// descended into: maps with free-form keys, or objects documented as a whole.
inline void collect_fields(const nlohmann::json& doc, const std::string& prefix,
                           const std::function<bool(const std::string&)>& opaque,
                           std::map<std::string, nlohmann::json>& out) {
  for (const auto& [key, value] : doc.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    out[path] = value;
    if (opaque(path)) continue;
    if (value.is_object()) collect_fields(value, path, opaque, out);
    if (value.is_array() && !value.empty() && value[0].is_object()) {
      for (const nlohmann::json& element : value)
        collect_fields(element, path + "[]", opaque, out);
    }
  }
}

}  // namespace poolbench::testing
