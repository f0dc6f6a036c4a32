#include "profile.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "error.hpp"

namespace fs = std::filesystem;

namespace nsrig {
namespace {

constexpr int kMaxIncludeDepth = 16;

[[noreturn]] void fail(const toml::node &n, const std::string &msg) { throw Error(where(n) + ": " + msg); }

void check_keys(const toml::table &t, const std::vector<std::string> &allowed, const std::string &ctx) {
  for (auto &&[k, v] : t) {
    std::string key(k.str());
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      fail(v, "unknown key '" + key + "' in " + ctx + did_you_mean(key, allowed));
  }
}

void check_string_array(const toml::node &n, const std::string &key) {
  const auto *a = n.as_array();
  if (!a) fail(n, "'" + key + "' must be an array of strings, e.g. " + key + " = [\"a\", \"b\"]");
  for (auto &&e : *a)
    if (!e.is_string()) fail(e, "'" + key + "' must contain only strings");
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
  if (ver->value<int64_t>() != 1) fail(*ver, "unsupported profile version; this nsrig reads 'version = 1'");
  if (auto *n = doc.get("name"); n && !n->is_string()) fail(*n, "'name' must be a string");
  if (auto *n = doc.get("include")) check_string_array(*n, "include");
  if (auto *n = doc.get("process")) {
    const auto &p = need_table(*n, "process");
    check_keys(p, {"argv", "cwd", "env", "clear_env"}, "[process]");
    if (auto *a = p.get("argv")) check_string_array(*a, "argv");
    if (auto *c = p.get("cwd"); c && !c->is_string()) fail(*c, "'cwd' must be a string");
    if (auto *c = p.get("clear_env"); c && !c->is_boolean()) fail(*c, "'clear_env' must be true or false");
    if (auto *e = p.get("env")) {
      for (auto &&[k, v] : need_table(*e, "env")) {
        if (!v.is_string()) fail(v, "env '" + std::string(k.str()) + "' must be a string");
        if (k.str().empty() || k.str().find('=') != std::string_view::npos)
          fail(v, "env name '" + std::string(k.str()) + "' must be non-empty and contain no '='");
      }
    }
  }
  if (auto *n = doc.get("namespace")) {
    const auto *arr = n->as_array();
    if (!arr || !arr->is_array_of_tables()) fail(*n, "'namespace' must be an array of tables: write [[namespace]]");
    for (auto &&e : *arr) {
      const auto &t = *e.as_table();
      const auto *type = t.get("type");
      if (!type) fail(e, "[[namespace]] without 'type': add e.g. type = \"uts\"");
      if (!type->is_string() || type->as_string()->get().empty()) fail(*type, "'type' must be a plugin name");
      if (auto *en = t.get("enabled"); en && !en->is_boolean()) fail(*en, "'enabled' must be true or false");
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
        if (!path || !path->is_string() || !path->as_string()->get().starts_with("/"))
          fail(path ? *path : h, "[[hooks." + s + "]] needs 'path', an absolute path to the program");
        if (auto *a = ht.get("args")) check_string_array(*a, "args");
        if (auto *a = ht.get("env")) check_string_array(*a, "env");
        if (auto *t = ht.get("timeout_ms"); t && (!t->is_integer() || t->value<int64_t>() <= 0))
          fail(*t, "'timeout_ms' must be a positive integer (milliseconds)");
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

void merge_namespaces(toml::array &dst, toml::array &&src) {
  for (auto &&e : src) {
    auto &t = *e.as_table();
    bool enabled = t.get("enabled") ? t.get("enabled")->value<bool>().value_or(true) : true;
    t.erase("enabled");
    std::string type = type_of(t);
    auto it = std::find_if(dst.begin(), dst.end(), [&](auto &&d) { return type_of(d) == type; });
    if (!enabled) {
      if (it != dst.end()) dst.erase(it);
    } else if (it != dst.end()) {
      merge_table(*it->as_table(), std::move(t), {"mounts"});
    } else {
      push(dst, std::move(t));
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

void load_file(const fs::path &file, std::vector<fs::path> &stack, const std::string &from, toml::table &out,
               std::vector<std::string> &files) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(file, ec);
  if (ec) canon = file;
  if (std::find(stack.begin(), stack.end(), canon) != stack.end()) {
    std::string chain;
    for (auto &p : stack) chain += p.string() + " -> ";
    throw Error(from + ": include cycle: " + chain + canon.string() + "; remove one of these includes");
  }
  if (stack.size() > kMaxIncludeDepth)
    throw Error(from + ": includes nested deeper than " + std::to_string(kMaxIncludeDepth) +
                " levels; flatten the profile");
  if (!fs::is_regular_file(file, ec))
    throw Error((from.empty() ? "" : from + ": ") + "cannot read profile '" + file.string() +
                "': " + (fs::exists(file, ec) ? "not a regular file" : "no such file"));
  toml::table doc;
  try {
    doc = toml::parse_file(file.string());
  } catch (const toml::parse_error &e) {
    const auto &b = e.source().begin;
    throw Error(file.string() + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                std::string(e.description()));
  }
  files.push_back(file.string());
  validate_file(doc, file.string());
  stack.push_back(canon);
  if (auto *inc = doc.get("include")) {
    for (auto &&e : *inc->as_array()) {
      fs::path p = e.as_string()->get();
      if (p.is_relative()) p = file.parent_path() / p;
      toml::table sub;
      load_file(p, stack, where(e), sub, files);
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
  if (!pick || best > std::max<size_t>(2, word.size() / 3)) return "";
  return "; did you mean '" + *pick + "'?";
}

void load_profiles(const std::vector<std::string> &files, Profile &out) {
  for (const auto &f : files) {
    std::vector<fs::path> stack;
    toml::table one;
    load_file(f, stack, "", one, out.files);
    merge_doc(out.root, std::move(one));
  }
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
