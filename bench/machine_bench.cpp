// machine_bench: what this machine charges for the things a spawn is made of,
// with no nsrig code: a page fault (anonymous, and file-backed with the
// kernel's fault-around), a system call, and spawning /bin/true from a process
// of nsrig's size with a fork-like clone against CLONE_VM | CLONE_VFORK (as
// posix_spawn does). docs/benchmarks.md reads nsrig's numbers against these:
// on a VM a fault can cost ten to twenty times what it does on bare metal, and
// then the pages a spawn touches, not its instructions, decide its time.
//
// Counters are per unit (per_fault, per_call: seconds, shown scaled); the
// benchmark's own time is per iteration. No time is asserted anywhere.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kPage = 4096;

// One fresh anonymous page per write: each is a minor fault (zero page, PTE).
void AnonPageFault(benchmark::State &state) {
  constexpr size_t kPages = 256;
  for (auto _ : state) {
    void *m = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return state.SkipWithError("mmap failed");
    auto *p = static_cast<volatile char *>(m);
    for (size_t i = 0; i < kPages; ++i) p[i * kPage] = 1;
    munmap(m, kPages * kPage);
  }
  state.counters["per_fault"] =
      benchmark::Counter(kPages, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(AnonPageFault)->Unit(benchmark::kMicrosecond);

// Reads of a file mapping already in the page cache (the C library, mapped
// here already), one per 64 KiB: each is one fault that maps the 16 pages
// around it (the kernel's fault-around), as code and read-only data are
// faulted in at every process start.
void FilePageFault(benchmark::State &state) {
  Dl_info libc{};
  if (!dladdr(reinterpret_cast<void *>(&getppid), &libc) || !libc.dli_fname)
    return state.SkipWithError("cannot find the C library's file");
  int fd = open(libc.dli_fname, O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) return state.SkipWithError("cannot open the C library's file");
  size_t len = static_cast<size_t>(st.st_size) & ~(16 * kPage - 1);
  size_t faults = len / (16 * kPage);
  if (faults == 0) return state.SkipWithError("the C library's file is too small");
  for (auto _ : state) {
    void *m = mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) return state.SkipWithError("mmap failed");
    auto *p = static_cast<volatile const char *>(m);
    char sum = 0;
    for (size_t i = 0; i < faults; ++i) sum = static_cast<char>(sum + p[i * 16 * kPage]);
    benchmark::DoNotOptimize(sum);
    munmap(m, len);
  }
  close(fd);
  state.counters["per_fault"] = benchmark::Counter(static_cast<double>(faults),
                                                   benchmark::Counter::kIsIterationInvariantRate |
                                                       benchmark::Counter::kInvert);
}
BENCHMARK(FilePageFault)->Unit(benchmark::kMicrosecond);

// The cheapest system call there is.
void Syscall(benchmark::State &state) {
  constexpr int kCalls = 100;
  for (auto _ : state)
    for (int i = 0; i < kCalls; ++i) benchmark::DoNotOptimize(getppid());
  state.counters["per_call"] =
      benchmark::Counter(kCalls, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(Syscall)->Unit(benchmark::kMicrosecond);

char *g_argv[] = {const_cast<char *>("/bin/true"), nullptr};
int exec_true(void *) {
  execve("/bin/true", g_argv, environ);
  _exit(127);
}

// Spawns /bin/true and waits, from a process with nsrig's footprint (about
// 500 KiB of written heap, 40 file mappings): arg 0 a fork-like clone (the
// child gets a copy of the page tables and takes copy-on-write faults; exec
// tears the copy down), arg 1 CLONE_VM | CLONE_VFORK (the child borrows the
// parent's memory until it execs).
void SpawnTrue(benchmark::State &state) {
  bool vm = state.range(0) == 1;
  std::vector<char> heap(500 * 1024, 1);
  benchmark::DoNotOptimize(heap.data());
  std::vector<void *> maps;
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  for (int i = 0; fd >= 0 && i < 40; ++i) {
    void *m = mmap(nullptr, 16 * kPage, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) break;
    benchmark::DoNotOptimize(*static_cast<volatile const char *>(m));
    maps.push_back(m);
  }
  if (fd >= 0) close(fd);
  constexpr size_t kStack = 256 * 1024;
  void *stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return state.SkipWithError("mmap of the child's stack failed");
  int flags = SIGCHLD | (vm ? CLONE_VM | CLONE_VFORK : 0);
  for (auto _ : state) {
    pid_t pid = clone(exec_true, static_cast<char *>(stack) + kStack, flags, nullptr);
    if (pid < 0) return state.SkipWithError("clone failed");
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return state.SkipWithError("/bin/true failed");
  }
  munmap(stack, kStack);
  for (void *m : maps) munmap(m, 16 * kPage);
  state.SetLabel(vm ? "CLONE_VM|CLONE_VFORK" : "fork-like clone");
}
BENCHMARK(SpawnTrue)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
