// Parser for the honoured subset of ~/.ssh/config (see ssh_config.h).
#include "k8sfs/ssh/ssh_config.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace k8sfs::ssh {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Splits a line into keyword and arguments the way ssh does: the keyword
// ends at whitespace or '='; arguments are whitespace separated and may be
// double-quoted.
std::vector<std::string> tokenize(std::string_view line, const std::string& where) {
  std::vector<std::string> tokens;
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
  };
  skip_space();
  std::size_t start = i;
  while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])) && line[i] != '=') ++i;
  tokens.emplace_back(line.substr(start, i - start));
  skip_space();
  if (i < line.size() && line[i] == '=') {
    ++i;
    skip_space();
  }
  while (i < line.size()) {
    std::string token;
    if (line[i] == '"') {
      std::size_t close = line.find('"', i + 1);
      if (close == std::string_view::npos) {
        throw ConfigError(fmt::format("{}: unterminated quote", where));
      }
      token = std::string(line.substr(i + 1, close - i - 1));
      i = close + 1;
    } else {
      start = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      token = std::string(line.substr(start, i - start));
    }
    tokens.push_back(std::move(token));
    skip_space();
  }
  return tokens;
}

bool wildcard_match(std::string_view text, std::string_view pattern) {
  // Iterative glob with backtracking to the last '*'.
  std::size_t t = 0, p = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++t;
      ++p;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

bool host_matches(std::string_view host, const std::vector<std::string>& patterns) {
  const std::string name = lower(host);
  bool matched = false;
  for (const auto& entry : patterns) {
    std::stringstream list(entry);
    std::string pattern;
    while (std::getline(list, pattern, ',')) {
      if (pattern.empty()) continue;
      const bool negated = pattern[0] == '!';
      if (negated) pattern.erase(0, 1);
      if (wildcard_match(name, lower(pattern))) {
        if (negated) return false;
        matched = true;
      }
    }
  }
  return matched;
}

std::string expand_path(std::string_view path, const std::string& home, std::string_view local_user,
                        std::string_view host, std::string_view remote_user, int port) {
  std::string out;
  std::size_t i = 0;
  if (path.size() >= 1 && path[0] == '~' && (path.size() == 1 || path[1] == '/')) {
    out = home;
    i = 1;
  }
  for (; i < path.size(); ++i) {
    if (path[i] != '%' || i + 1 == path.size()) {
      out += path[i];
      continue;
    }
    switch (path[++i]) {
      case 'd':
        out += home;
        break;
      case 'u':
        out += local_user;
        break;
      case 'h':
        out += host;
        break;
      case 'r':
        out += remote_user;
        break;
      case 'p':
        out += std::to_string(port);
        break;
      case '%':
        out += '%';
        break;
      default:
        out += '%';
        out += path[i];
    }
  }
  return out;
}

SshConfig SshConfig::parse(std::string_view text, const std::string& source, const std::string& home,
                           const std::string& include_dir) {
  SshConfig config;
  config.home_ = home;
  config.blocks_.push_back(Block{});  // lines before the first Host apply to all
  config.parse_into(text, source, include_dir, 0);
  return config;
}

SshConfig SshConfig::load(const std::string& path, const std::string& home) {
  std::ifstream in(path);
  if (!in) return parse("", path, home, home + "/.ssh");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str(), path, home, home + "/.ssh");
}

void SshConfig::parse_into(std::string_view text, const std::string& source, const std::string& include_dir,
                           int depth) {
  if (depth > 16) throw ConfigError(fmt::format("{}: Include nested too deeply", source));
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = (nl == std::string_view::npos) ? text.size() + 1 : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;

    const std::string where = fmt::format("{}:{}", source, line_no);
    auto tokens = tokenize(line, where);
    const std::string keyword = lower(tokens[0]);
    std::vector<std::string> args(tokens.begin() + 1, tokens.end());
    if (keyword == "host") {
      if (args.empty()) throw ConfigError(fmt::format("{}: Host needs at least one pattern", where));
      blocks_.push_back(Block{args, false, {}});
    } else if (keyword == "match") {
      blocks_.push_back(Block{args, true, {}});
      notes_.push_back(fmt::format("{}: Match blocks are not supported; their options are ignored", where));
    } else if (keyword == "include") {
      for (const auto& arg : args) {
        std::string pattern = expand_path(arg, home_, "", "", "", 0);
        if (pattern.empty() || pattern[0] != '/') pattern = include_dir + "/" + pattern;
        // Freed however the included files' parsing ends (an error in one of
        // them throws; libFuzzer found the leak).
        struct Matches {
          glob_t found{};
          ~Matches() { ::globfree(&found); }
        } matches;
        if (::glob(pattern.c_str(), 0, nullptr, &matches.found) == 0) {
          for (std::size_t i = 0; i < matches.found.gl_pathc; ++i) {
            std::ifstream in(matches.found.gl_pathv[i]);
            std::stringstream buffer;
            buffer << in.rdbuf();
            parse_into(buffer.str(), matches.found.gl_pathv[i], include_dir, depth + 1);
          }
        }
      }
    } else {
      if (args.empty()) throw ConfigError(fmt::format("{}: {} needs a value", where, tokens[0]));
      std::string value = args[0];
      for (std::size_t i = 1; i < args.size(); ++i) value += " " + args[i];
      blocks_.back().entries.push_back(Entry{keyword, value, where});
    }
  }
}

HostConfig SshConfig::resolve(std::string_view host) const {
  HostConfig out;
  for (const auto& block : blocks_) {
    if (block.match_block) continue;
    if (!block.patterns.empty() && !host_matches(host, block.patterns)) continue;
    for (const auto& entry : block.entries) {
      const auto& k = entry.keyword;
      const auto& v = entry.value;
      auto to_int = [&](const char* what, int low, int high) {
        try {
          std::size_t used = 0;
          int n = std::stoi(v, &used);
          if (used == v.size() && n >= low && n <= high) return n;
        } catch (const std::exception&) {
        }
        throw ConfigError(
            fmt::format("{}: {} must be a number from {} to {}, not '{}'", entry.where, what, low, high, v));
      };
      if (k == "hostname" && !out.hostname) {
        out.hostname = v;
      } else if (k == "user" && !out.user) {
        out.user = v;
      } else if (k == "port" && !out.port) {
        out.port = to_int("Port", 1, 65535);
      } else if (k == "identityfile") {
        out.identity_files.push_back(v);
      } else if (k == "proxyjump" && !out.proxy_jump) {
        out.proxy_jump = v;
      } else if (k == "userknownhostsfile" && !out.user_known_hosts_file) {
        out.user_known_hosts_file = v.substr(0, v.find(' '));
      } else if (k == "connecttimeout" && !out.connect_timeout) {
        out.connect_timeout = to_int("ConnectTimeout", 1, 86400);
      }
    }
  }
  return out;
}

}  // namespace k8sfs::ssh
