// The toml++ implementation is compiled here, once (core/CMakeLists.txt).
#include <cmath>
#include <cstddef>

// toml++'s formatter (toml_formatter.inl, used by `nsrig explain`) calls
// log10() only to estimate how many columns a number prints in, and that one
// call is all nsrig would map libm.so.6 for at every start. It gets this digit
// count instead: floor(log10(v)) for v >= 1, 0 below 1 (where toml++'s cast of
// a negative log10 to size_t would be undefined).
namespace {
double toml_digits_log10(double v) noexcept {
  double n = 0;
  for (; v >= 10.0 && n < 400; v /= 10.0) ++n;
  return n;
}
}  // namespace
#define log10 toml_digits_log10
#define TOML_IMPLEMENTATION
#include "profile.hpp"
#undef log10

#include <algorithm>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "error.hpp"

namespace fs = std::filesystem;

namespace nsrig {
namespace {

constexpr int kMaxIncludeDepth = 16;

[[noreturn]] void fail(const toml::node &n, const std::string &msg) { throw Error(where(n) + ": " + msg); }

// A node as the profile wrote it, for messages: a value in TOML syntax ("2",
// "\"bin/x\""), a table or an array by its kind.
std::string toml_text(const toml::node &n) {
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  std::ostringstream os;
  n.visit([&](const auto &v) { os << v; });
  return os.str();
}

void check_keys(const toml::table &t, const std::vector<std::string> &allowed, const std::string &ctx) {
  for (auto &&[k, v] : t) {
    std::string key(k.str());
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      fail(v, "unknown key '" + key + "' in " + ctx + did_you_mean(key, allowed));
  }
}

// Strings handed to the kernel (argv, env, paths) end at the first NUL byte.
void check_no_nul(const toml::node &n, const std::string &key) {
  if (n.is_string() && n.as_string()->get().find('\0') != std::string::npos)
    fail(n, "'" + key + "' must not contain a NUL byte (\\u0000)");
}

// Every string in a plugin's table, at any depth: the plugins hand them to the kernel too
// (a hostname, a mount source), where "/etc\u0000/passwd" would be "/etc".
void check_no_nul_within(const toml::node &n, const std::string &key) {
  if (const auto *t = n.as_table()) {
    for (auto &&[k, v] : *t) {
      std::string name = key.empty() ? std::string(k.str()) : key + "." + std::string(k.str());
      if (k.str().find('\0') != std::string_view::npos) {
        for (size_t i; (i = name.find('\0')) != std::string::npos;) name.replace(i, 1, "\\u0000");  // shown, not cut
        fail(v, "the key '" + name + "' must not contain a NUL byte");
      }
      check_no_nul_within(v, name);
    }
  } else if (const auto *a = n.as_array()) {
    for (size_t i = 0; i < a->size(); ++i) check_no_nul_within(*a->get(i), key + "[" + std::to_string(i) + "]");
  } else {
    check_no_nul(n, key);
  }
}

void check_string_array(const toml::node &n, const std::string &key) {
  const auto *a = n.as_array();
  if (!a) fail(n, "'" + key + "' must be an array of strings, e.g. " + key + " = [\"a\", \"b\"]");
  for (auto &&e : *a) {
    if (!e.is_string()) fail(e, "'" + key + "' must contain only strings");
    check_no_nul(e, key);
  }
}

const toml::table &need_table(const toml::node &n, const std::string &key) {
  const auto *t = n.as_table();
  if (!t) fail(n, "'" + key + "' must be a table");
  return *t;
}

// Validates the core's keys of one file, before merging, so that every error
// points into the file that has it.
void validate_file(const toml::table &doc, const std::string &file) {
  check_keys(doc, {"version", "name", "include", "process", "namespace", "hooks"}, "the profile's top level");
  const toml::node *ver = doc.get("version");
  if (!ver) throw Error(file + ":1:1: missing 'version = 1' at the top of the profile");
  if (!ver->is_integer() || ver->value<int64_t>() != 1)
    fail(*ver, "unsupported profile version: 'version' is " + toml_text(*ver) + "; this nsrig reads 'version = 1' (an integer)");
  if (auto *n = doc.get("name"); n && !n->is_string()) fail(*n, "'name' must be a string");
  if (auto *n = doc.get("include")) check_string_array(*n, "include");
  if (auto *n = doc.get("process")) {
    check_no_nul_within(*n, "");  // env keys too: "A\u0000B" would reach execve as "A"
    const auto &p = need_table(*n, "process");
    check_keys(p, {"argv", "cwd", "env", "clear_env"}, "[process]");
    if (auto *a = p.get("argv")) check_string_array(*a, "argv");
    if (auto *c = p.get("cwd"); c && (!c->is_string() || !c->as_string()->get().starts_with("/")))
      fail(*c, "'cwd' must be an absolute path inside the instance, e.g. \"/\"");
    if (auto *c = p.get("clear_env"); c && !c->is_boolean()) fail(*c, "'clear_env' must be true or false");
    if (auto *e = p.get("env")) {
      for (auto &&[k, v] : need_table(*e, "env")) {
        if (!v.is_string()) fail(v, "env '" + std::string(k.str()) + "' must be a string");
        check_no_nul(v, "env");
        if (k.str().empty() || k.str().find('=') != std::string_view::npos)
          fail(v, "env name '" + std::string(k.str()) + "' must be non-empty and contain no '='");
      }
    }
  }
  if (auto *n = doc.get("namespace")) {
    const auto *arr = n->as_array();
    if (!arr || !arr->is_array_of_tables()) fail(*n, "'namespace' must be an array of tables: write [[namespace]]");
    std::vector<std::string> seen;
    for (auto &&e : *arr) {
      const auto &t = *e.as_table();
      const auto *type = t.get("type");
      if (!type) fail(e, "[[namespace]] without 'type': add e.g. type = \"uts\"");
      std::string name = type->value_or(std::string());
      bool valid = !name.empty() && name.size() <= 32 &&
                   name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
      if (!type->is_string() || !valid) fail(*type, "'type' must be a plugin name: 1-32 characters of [a-z0-9_-]");
      if (std::find(seen.begin(), seen.end(), name) != seen.end())
        fail(e, "a second [[namespace]] of type \"" + name + "\" in one file; put its keys in the first one");
      seen.push_back(name);
      if (auto *en = t.get("enabled"); en && !en->is_boolean()) fail(*en, "'enabled' must be true or false");
      check_no_nul_within(t, "");
    }
  }
  if (auto *n = doc.get("hooks")) {
    std::vector<std::string> stages(std::begin(kHookStages), std::end(kHookStages));
    for (auto &&[stage, v] : need_table(*n, "hooks")) {
      std::string s(stage.str());
      if (std::find(stages.begin(), stages.end(), s) == stages.end())
        fail(v, "unknown hook stage '" + s + "' (OCI stages: prestart, createRuntime, createContainer, "
                "startContainer, poststart, poststop)" + did_you_mean(s, stages));
      const auto *arr = v.as_array();
      if (!arr || !arr->is_array_of_tables()) fail(v, "hooks." + s + " must be written [[hooks." + s + "]]");
      for (auto &&h : *arr) {
        const auto &ht = *h.as_table();
        check_keys(ht, {"path", "args", "env", "timeout_ms"}, "[[hooks." + s + "]]");
        const auto *path = ht.get("path");
        if (!path) fail(h, "[[hooks." + s + "]] needs 'path', an absolute path to the program");
        if (!path->is_string() || !path->as_string()->get().starts_with("/"))
          fail(*path, "[[hooks." + s + "]] 'path' must be an absolute path to the program (it is " +
                          toml_text(*path) + ")");
        check_no_nul(*path, "path");
        // createContainer/startContainer run inside the instance, where the host's files may not be.
        bool host_side = s != "createContainer" && s != "startContainer";
        if (host_side && access(path->as_string()->get().c_str(), X_OK) != 0)
          fail(*path, errno_text("hook program '" + path->as_string()->get() + "'") + "; give an executable file");
        if (auto *a = ht.get("args")) check_string_array(*a, "args");
        if (auto *a = ht.get("env")) {
          check_string_array(*a, "env");
          for (auto &&e : *a->as_array())
            if (e.as_string()->get().find('=') == std::string::npos)
              fail(e, "hook env entries are \"KEY=VALUE\" strings (OCI), not '" + e.as_string()->get() + "'");
        }
        if (auto *t = ht.get("timeout_ms");
            t && (!t->is_integer() || t->value<int64_t>() <= 0 || t->value<int64_t>() > INT32_MAX))
          fail(*t, "'timeout_ms' must be a positive integer of milliseconds, at most 2147483647");
      }
    }
  }
}

// Moves node `v` into table `dst` at `key` (moving keeps the source position;
// toml++ copies do not).
void put(toml::table &dst, std::string_view key, toml::node &&v) {
  v.visit([&](auto &&n) { dst.insert_or_assign(key, std::move(n)); });
}
void push(toml::array &dst, toml::node &&v) {
  v.visit([&](auto &&n) { dst.push_back(std::move(n)); });
}

// Later wins key by key; nested tables merge; arrays named in `append` append.
void merge_table(toml::table &dst, toml::table &&src, std::initializer_list<std::string_view> append) {
  for (auto &&[k, v] : src) {
    toml::node *have = dst.get(k.str());
    if (have && have->is_table() && v.is_table()) {
      merge_table(*have->as_table(), std::move(*v.as_table()), {});
    } else if (have && have->is_array() && v.is_array() &&
               std::find(append.begin(), append.end(), k.str()) != append.end()) {
      for (auto &&e : *v.as_array()) push(*have->as_array(), std::move(e));
    } else {
      put(dst, k.str(), std::move(v));
    }
  }
}

std::string type_of(const toml::node &t) { return t.as_table()->get("type")->as_string()->get(); }

bool disabled(const toml::node &t) { return !(*t.as_table())["enabled"].value_or(true); }

// `enabled = false` leaves a tombstone (the disabled table) in place while
// files are merged, so that it reaches a type merged in an earlier -p file or
// sibling include, not only one in its own includes; a later table of that
// type replaces the tombstone (later wins). drop_tombstones() removes what is
// still disabled once everything is merged.
void merge_namespaces(toml::array &dst, toml::array &&src) {
  for (auto &&e : src) {
    auto &t = *e.as_table();
    std::string type = type_of(t);
    auto it = std::find_if(dst.begin(), dst.end(), [&](auto &&d) { return type_of(d) == type; });
    if (it == dst.end()) {
      push(dst, std::move(t));
    } else if (disabled(t) || disabled(*it)) {
      // Replace in place: a tombstone over a table, or a fresh table over a tombstone.
      size_t at = static_cast<size_t>(it - dst.begin());
      dst.erase(it);
      t.visit([&](auto &&n) { dst.insert(dst.begin() + static_cast<std::ptrdiff_t>(at), std::move(n)); });
    } else {
      merge_table(*it->as_table(), std::move(t), {"mounts"});
    }
  }
}

void drop_tombstones(toml::table &root) {
  auto *ns = root.get_as<toml::array>("namespace");
  if (!ns) return;
  for (auto it = ns->begin(); it != ns->end();) {
    if (disabled(*it)) {
      it = ns->erase(it);
    } else {
      it->as_table()->erase("enabled");
      ++it;
    }
  }
}

// Merges one validated document (includes already removed) into `dst`.
void merge_doc(toml::table &dst, toml::table &&src) {
  for (auto &&[k, v] : src) {
    std::string key(k.str());
    toml::node *have = dst.get(key);
    if (key == "namespace") {
      if (!have) {
        put(dst, key, toml::array{});
        have = dst.get(key);
      }
      merge_namespaces(*have->as_array(), std::move(*v.as_array()));
    } else if (key == "hooks" && have) {
      for (auto &&[stage, arr] : *v.as_table()) {
        auto *h = have->as_table()->get(stage.str());
        if (!h)
          put(*have->as_table(), stage.str(), std::move(arr));
        else
          for (auto &&e : *arr.as_array()) push(*h->as_array(), std::move(e));
      }
    } else if (key == "process" && have) {
      merge_table(*have->as_table(), std::move(*v.as_table()), {});
    } else {
      put(dst, key, std::move(v));
    }
  }
}

// The whole of a profile file, read with plain system calls: toml++'s
// parse_file reads through std::ifstream, whose first use on the spawn path
// costs more than the parse of a small profile (docs/benchmarks.md, "Fifth
// round"). O_NONBLOCK: a FIFO given as a profile is refused, not waited on.
// Profiles larger than 16 MiB are refused (a profile is a few KiB).
std::string read_profile_text(const fs::path &file, const std::string &from) {
  std::string prefix = (from.empty() ? "" : from + ": ") + "cannot read profile '" + file.string() + "': ";
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) throw Error(prefix + (errno == ENOENT ? std::string("no such file") : std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    throw Error(prefix + "not a regular file");
  }
  constexpr off_t kMax = 16 << 20;
  if (st.st_size > kMax) {
    close(fd);
    throw Error(prefix + "larger than 16 MiB; a profile is a few KiB");
  }
  std::string text(static_cast<size_t>(st.st_size) + 1, '\0');  // one byte more: EOF is seen without growing
  size_t got = 0;
  for (;;) {
    if (got == text.size()) text.resize(std::min<size_t>(text.size() * 2, kMax + 1));  // it grew meanwhile
    ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      throw Error(prefix + std::strerror(e));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got > static_cast<size_t>(kMax)) {
      close(fd);
      throw Error(prefix + "larger than 16 MiB; a profile is a few KiB");
    }
  }
  close(fd);
  text.resize(got);
  return text;
}

// Files already merged by this load (canonical paths): a file reached twice,
// as in a diamond of includes, is merged once, where it is first reached.
using Seen = std::vector<fs::path>;

void load_file(const fs::path &file, std::vector<fs::path> &stack, const std::string &from, toml::table &out,
               std::vector<std::string> &files, Seen &seen) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(file, ec);
  if (ec) canon = file;
  if (std::find(stack.begin(), stack.end(), canon) != stack.end()) {
    std::string chain;
    for (auto &p : stack) chain += p.string() + " -> ";
    throw Error(from + ": include cycle: " + chain + canon.string() + "; remove one of these includes");
  }
  if (std::find(seen.begin(), seen.end(), canon) != seen.end()) return;
  if (stack.size() > kMaxIncludeDepth)
    throw Error(from + ": includes nested deeper than " + std::to_string(kMaxIncludeDepth) +
                " levels; flatten the profile");
  std::string text = read_profile_text(file, from);
  toml::table doc;
  try {
    doc = toml::parse(text, file.string());
  } catch (const toml::parse_error &e) {
    const auto &b = e.source().begin;
    std::string included = from.empty() ? "" : " (included from " + from + ")";
    if (b.line == 0) throw Error(file.string() + ": " + std::string(e.description()) + included);
    throw Error(file.string() + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                std::string(e.description()) + included);
  }
  seen.push_back(canon);
  files.push_back(file.string());
  validate_file(doc, file.string());
  stack.push_back(canon);
  if (auto *inc = doc.get("include")) {
    for (auto &&e : *inc->as_array()) {
      fs::path p = e.as_string()->get();
      if (p.is_relative()) p = file.parent_path() / p;
      toml::table sub;
      load_file(p, stack, where(e), sub, files, seen);
      merge_doc(out, std::move(sub));
    }
    doc.erase("include");
  }
  stack.pop_back();
  merge_doc(out, std::move(doc));
}

std::vector<std::string> strings(const toml::node *n) {
  std::vector<std::string> out;
  if (n)
    for (auto &&e : *n->as_array()) out.push_back(e.as_string()->get());
  return out;
}

}  // namespace

std::string where(const toml::node &n) {
  const auto &s = n.source();
  if (!s.path) return "<profile>";
  return *s.path + ":" + std::to_string(s.begin.line) + ":" + std::to_string(s.begin.column);
}

std::string did_you_mean(std::string_view word, const std::vector<std::string> &candidates) {
  size_t best = SIZE_MAX;
  const std::string *pick = nullptr;
  for (const auto &c : candidates) {
    std::vector<size_t> row(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (word[i - 1] == c[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    if (row[c.size()] < best) best = row[c.size()], pick = &c;
  }
  // Also a key that the word starts, or that starts the word ("timeout" for "timeout_ms").
  if (best > std::max<size_t>(2, word.size() / 3)) {
    pick = nullptr;
    for (const auto &c : candidates)
      if (word.size() >= 3 && (c.starts_with(word) || word.starts_with(c)) && (!pick || c.size() < pick->size()))
        pick = &c;
  }
  if (!pick) return "";
  return "; did you mean '" + *pick + "'?";
}

void load_profiles(const std::vector<std::string> &files, Profile &out) {
  Seen seen;
  for (const auto &f : files) {
    std::vector<fs::path> stack;
    toml::table one;
    load_file(f, stack, "", one, out.files, seen);
    merge_doc(out.root, std::move(one));
  }
  drop_tombstones(out.root);
  out.root.erase("version");
  out.name = out.root["name"].value_or(std::string());
  if (const auto *p = out.root.get_as<toml::table>("process")) {
    out.argv = strings(p->get("argv"));
    out.cwd = (*p)["cwd"].value_or(std::string());
    out.clear_env = (*p)["clear_env"].value_or(false);
    if (const auto *env = p->get_as<toml::table>("env"))
      for (auto &&[k, v] : *env) out.env.emplace_back(std::string(k.str()), v.as_string()->get());
  }
  if (auto *ns = out.root.get_as<toml::array>("namespace"))
    for (auto &&e : *ns) out.namespaces.push_back({type_of(e), e.as_table()});
  if (const auto *h = out.root.get_as<toml::table>("hooks")) {
    for (const char *stage : kHookStages) {
      const auto *arr = h->get_as<toml::array>(stage);
      if (!arr) continue;
      for (auto &&e : *arr) {
        const auto &t = *e.as_table();
        CommandHook hook;
        hook.stage = stage;
        hook.path = t["path"].value_or(std::string());
        hook.args = strings(t.get("args"));
        if (hook.args.empty()) hook.args.push_back(hook.path);
        hook.env = strings(t.get("env"));
        hook.timeout_ms = t["timeout_ms"].value_or(int64_t{0});
        hook.where = where(e);
        out.hooks.push_back(std::move(hook));
      }
    }
  }
}

}  // namespace nsrig
