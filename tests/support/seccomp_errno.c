// seccomp_errno: runs a command with some system calls refused, as a
// container runtime's seccomp profile refuses what it does not know (Docker's
// answers ENOSYS or EPERM). For fault-injection tests of nsrig's fallbacks.
//   seccomp_errno NAME=ERRNO[,NAME=ERRNO...] -- COMMAND [ARG...]
// NAME: openat2, fsopen, mount_setattr, move_mount, open_tree or clone3 (calls newer than many
// seccomp profiles); ERRNO: ENOSYS or EPERM. The filter (seccomp(2), SECCOMP_RET_ERRNO)
// is inherited by every child and kept across execve. Exit 125 on a usage
// error, else the command's own status (it is executed in place).
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct {
  const char *name;
  long nr;
} kCalls[] = {{"fsopen", SYS_fsopen},
              {"openat2", SYS_openat2},
              {"mount_setattr", SYS_mount_setattr},
              {"move_mount", SYS_move_mount},
              {"open_tree", SYS_open_tree},
              {"clone3", SYS_clone3}};

static int usage(const char *why) {
  fprintf(stderr, "seccomp_errno: %s\nusage: seccomp_errno NAME=ENOSYS|EPERM[,...] -- COMMAND [ARG...]\n", why);
  return 125;
}

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) return usage("expected rules, --, and a command");
  struct sock_filter prog[64];
  size_t n = 0;
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  char *rules = strdup(argv[1]);
  for (char *save = NULL, *r = strtok_r(rules, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(r, '=');
    if (!eq) return usage("a rule is NAME=ERRNO");
    *eq = '\0';
    long nr = -1;
    for (size_t i = 0; i < sizeof kCalls / sizeof kCalls[0]; ++i)
      if (strcmp(kCalls[i].name, r) == 0) nr = kCalls[i].nr;
    if (nr < 0) return usage("unknown system call name");
    int err = strcmp(eq + 1, "ENOSYS") == 0 ? ENOSYS : strcmp(eq + 1, "EPERM") == 0 ? EPERM : -1;
    if (err < 0) return usage("the errno is ENOSYS or EPERM");
    if (n + 3 > sizeof prog / sizeof prog[0]) return usage("too many rules");
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err);
  }
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog fprog = {(unsigned short)n, prog};
  // Without no_new_privs only a process with CAP_SYS_ADMIN may install a
  // filter; the tests run as root and keep setuid helpers working.
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) {
    perror("seccomp_errno: prctl(PR_SET_SECCOMP)");
    return 125;
  }
  execvp(argv[3], argv + 3);
  perror("seccomp_errno: execvp");
  return 127;
}
