// main() of the network and instance tests: as root, they run in a network
// namespace of their own, so that the bridges, veth host ends and routes they
// make (and compare before and after) are theirs alone, whatever else runs on
// the machine, and the real host's links are never touched.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() == 0) {
    if (unshare(CLONE_NEWNET) != 0) {
      std::perror("unshare(CLONE_NEWNET)");
      return 1;
    }
    if (std::system("ip link set lo up") != 0) return 1;
  }
  return RUN_ALL_TESTS();
}
