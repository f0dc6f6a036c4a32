// Spawner: the spawn path. One clone3 with the union of the plugins'
// CLONE_NEW* flags, the lifecycle hooks in plan order on their sides, the
// payload's exec, the wait, and the teardown from the record of what ran.
// Runs no helper program and never re-executes nsrig.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "instance.hpp"
#include "planner.hpp"

namespace nsrig {

/** Wall time of each phase of one run, in microseconds, in the order they ran. */
using Timings = std::vector<std::pair<std::string, int64_t>>;

/**
 * Runs `inst` (already configured) following `plan`, and returns the exit
 * status nsrig should exit with: the payload's, 128+N when it died of signal
 * N. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH that
 * nsrig receives are forwarded to the instance's first process.
 * On a setup failure, tears down what was prepared (reverse order) and
 * throws nsrig::Error: exit_code 125 for a hook failure, 126 / 127 when the
 * payload cannot be executed / is not found; the message is the child's own,
 * carried over the sync socket. `on_started` is called once the payload was
 * executed and the post_start hooks ran (a detached run reports success then).
 */
int run(Instance &inst, const Plan &plan, Timings *timings = nullptr,
        const std::function<void()> &on_started = nullptr);

/**
 * Teardown from the record of what ran: on_teardown of every slot that
 * reached the prepare phase, in reverse order (failures logged), then the
 * poststop hooks. Also used by `nsrig rm` for an instance whose supervisor
 * died: there every slot is marked prepared and plugins undo what their
 * deterministic names (from the instance id) say exists.
 */
void teardown(Instance &inst);

/**
 * Child side, for host->spawn_payload: forks; the new process resets signal
 * mask and dispositions and executes the payload (reporting a failure over
 * the sync socket, exit 126/127); the caller closes its copy of the sync
 * socket. Returns the payload's pid, or -1 with errno set.
 */
pid_t spawn_payload(Instance &inst);

/**
 * Makes inst.exec (the payload's argv, envp and the paths to try) from
 * inst.process. run() calls it before clone3 when inst.exec is empty; call
 * it again after changing inst.process.
 */
void prepare_exec(Instance &inst);

/**
 * Child side: executes the payload in the calling process (signal mask and
 * dispositions reset, cwd, PATH lookup in the payload's environment). On
 * failure reports over the sync socket and exits 126 (cannot execute) or 127
 * (not found), like a shell.
 */
[[noreturn]] void exec_payload(Instance &inst);

/**
 * For a process about to execve(2): every signal unblocked and at its default
 * disposition. execve itself resets caught signals and keeps ignored ones
 * (signal(7), "Signal disposition"), so only the ignored ones are reset: each
 * of the 64 is asked with sigaction(2) (no new action), and one found
 * SIG_IGN is set to SIG_DFL. Needs no /proc. Async-signal-safe and allocates
 * nothing, so it may run in a vfork-style child. Errors are ignored (nothing
 * to report them to).
 */
void reset_signals_for_exec();

}  // namespace nsrig
