// Planner: profile order checked against kernel facts and plugin constraints;
// the step list is data and compared here as a golden list.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "error.hpp"
#include "helpers.hpp"
#include "instance.hpp"
#include "planner.hpp"

using namespace nsrig;
using ::testing::HasSubstr;

namespace {

struct Fixture {
  test::TempDir dir;
  Profile profile;
  Registry registry{{NSRIG_PLUGIN_DIR, NSRIG_TEST_PLUGIN_DIR}};
  std::unique_ptr<Instance> inst;
  explicit Fixture(const std::string &toml) {
    load_profiles({dir.write("p.toml", "version = 1\n" + toml)}, profile);
    inst = std::make_unique<Instance>(profile, registry, std::vector<std::string>{"/bin/true"});
  }
  ~Fixture() { inst.reset(); }
};

std::string plan_error(const std::string &toml) {
  Fixture f(toml);
  try {
    make_plan(*f.inst);
  } catch (const Error &e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a planning error";
  return "";
}

TEST(Planner, UserMustComeFirst) {
  std::string e = plan_error("[[namespace]]\ntype = \"uts\"\n[[namespace]]\ntype = \"user\"\n");
  EXPECT_THAT(e, HasSubstr("p.toml:4:1 (user)"));
  EXPECT_THAT(e, HasSubstr("'uts' comes before it"));
  EXPECT_THAT(e, HasSubstr("user_namespaces(7)"));
}

TEST(Planner, AfterConstraintNamesBothPlugins) {
  std::string e = plan_error("[[namespace]]\ntype = \"ipc\"\n[[namespace]]\ntype = \"mnt\"\n");
  EXPECT_THAT(e, HasSubstr("plugin 'ipc' must run after 'mnt'"));
  EXPECT_THAT(e, HasSubstr("p.toml:4:1 (mnt)"));
}

TEST(Planner, AbsentConstraintTargetIsFine) {
  Fixture f("[[namespace]]\ntype = \"ipc\"\n");
  EXPECT_NO_THROW(make_plan(*f.inst));
}

TEST(Planner, GoldenSteps) {
  Fixture f(R"([[namespace]]
type = "user"
[[namespace]]
type = "pid"
[[namespace]]
type = "uts"
hostname = "x"
[[namespace]]
type = "probe"
[[hooks.poststop]]
path = "/bin/true"
)");
  Plan plan = make_plan(*f.inst);
  std::vector<std::string> got;
  for (auto &s : plan.steps) got.push_back(s.phase + " " + s.side + " " + s.who);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "load parent core",
                     "on_configure parent user",
                     "on_configure parent pid",
                     "on_configure parent uts",
                     "on_configure parent probe",
                     "on_prepare parent uts",
                     "on_prepare parent probe",
                     "clone core core",
                     "on_parent_after_clone parent user",
                     "on_parent_after_clone parent probe",
                     "on_child_setup child user",
                     "on_child_setup child uts",
                     "on_child_setup child probe",
                     "exec child pid",
                     "on_post_start parent probe",
                     "wait parent core",
                     "on_teardown parent probe",
                     "poststop parent hook",
                 }));
  EXPECT_EQ(plan.exec_slot, f.inst->find("pid"));
  EXPECT_THAT(plan.steps[7].what, HasSubstr("CLONE_NEWUTS|CLONE_NEWUSER|CLONE_NEWPID|CLONE_PIDFD"));
}

TEST(Planner, WithoutPidTheCoreExecs) {
  Fixture f("[[namespace]]\ntype = \"uts\"\n");
  Plan plan = make_plan(*f.inst);
  EXPECT_EQ(plan.exec_slot, nullptr);
  auto it = std::find_if(plan.steps.begin(), plan.steps.end(), [](auto &s) { return s.phase == "exec"; });
  ASSERT_NE(it, plan.steps.end());
  EXPECT_EQ(it->who, "core");
  EXPECT_EQ(it->what, "execve: /bin/true");
}

}  // namespace
