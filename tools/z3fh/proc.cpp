// z3fold-harden: subprocesses, started with posix_spawn and an explicit
// argv and environment (never a shell string, never setenv in a child).
#include "proc.h"

#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace z3fh::tool {

namespace {
// Children now running (score runs several at once); read by the SIGINT
// handler, so plain lock-free slots: room for --jobs' 256 workers and what
// runs beside them.
constexpr int kMaxChildren = 1024;
std::atomic<pid_t> g_children[kMaxChildren];

void track(pid_t pid, pid_t expect) {
    for (auto& c : g_children) {
        pid_t e = expect;
        if (c.compare_exchange_strong(e, pid)) return;
    }
}
}  // namespace

bool on_path(const std::string& exe) {
    const char* path = std::getenv("PATH");
    const std::string dirs = path ? path : "/usr/bin:/bin";
    for (size_t pos = 0; pos <= dirs.size();) {
        size_t end = dirs.find(':', pos);
        if (end == std::string::npos) end = dirs.size();
        if (access((dirs.substr(pos, end - pos) + "/" + exe).c_str(), X_OK) == 0) return true;
        pos = end + 1;
    }
    return false;
}

void signal_children(int sig) {
    for (auto& c : g_children) {
        pid_t pid = c.load();
        if (pid > 0) kill(-pid, sig);
    }
}


namespace {

// The child's environment: ours with `env` laid over it, spelled out, so
// nothing is set in a child of a threaded parent.
std::vector<std::string> child_environment(const std::map<std::string, std::string>& env) {
    std::vector<std::string> out;
    for (char** e = environ; *e; e++) {
        std::string kv = *e;
        if (!env.count(kv.substr(0, kv.find('=')))) out.push_back(kv);
    }
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    for (std::string& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// SIGALRM to the child's group once timeout_s have passed, unless it ended.
class Deadline {
public:
    Deadline(pid_t pid, unsigned timeout_s) {
        if (timeout_s == 0) return;
        watcher_ = std::thread([this, pid, timeout_s] {
            std::unique_lock<std::mutex> lock(mu_);
            if (!cv_.wait_for(lock, std::chrono::seconds(timeout_s), [this] { return done_; })) kill(-pid, SIGALRM);
        });
    }
    ~Deadline() {
        if (!watcher_.joinable()) return;
        {
            std::lock_guard<std::mutex> lock(mu_);
            done_ = true;
        }
        cv_.notify_all();
        watcher_.join();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread watcher_;
};

void stream_lines(int fd, const std::function<void(const std::string&)>& on_line) {
    std::string buf;
    char chunk[8192];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR)) {
        if (n < 0) continue;
        buf.append(chunk, static_cast<size_t>(n));
        size_t pos;
        while ((pos = buf.find_first_of("\n\r")) != std::string::npos) {
            std::string line = buf.substr(0, pos);
            buf.erase(0, pos + 1);
            if (!line.empty()) on_line(line);
        }
    }
    if (!buf.empty()) on_line(buf);
}

}  // namespace

ProcResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                       const std::function<void(const std::string&)>& on_line, const std::string& cwd,
                       unsigned timeout_s, std::atomic<pid_t>* started) {
    ProcResult r;
    int fds[2] = {-1, -1};
    // Close-on-exec: a child started meanwhile by another thread must not
    // hold our pipe's write end open.
    if (on_line && pipe2(fds, O_CLOEXEC) != 0) return r;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    // Its own process group: Ctrl-C reaches it through us; default signal
    // dispositions, whatever ours are.
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    if (on_line) {
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    }
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    std::vector<std::string> args = argv, envp = child_environment(env);
    std::vector<char*> c_args = c_strings(args), c_env = c_strings(envp);
    pid_t pid = -1;
    int err = posix_spawnp(&pid, c_args[0], &actions, &attr, c_args.data(), c_env.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (on_line) close(fds[1]);
    if (err != 0) {
        if (on_line) close(fds[0]);
        r.exit_code = 127;  // as a shell says for a command it cannot run
        return r;
    }
    track(pid, 0);
    if (started) *started = pid;
    {
        Deadline deadline(pid, timeout_s);
        if (on_line) {
            stream_lines(fds[0], on_line);
            close(fds[0]);
        }
        int status = 0;
        struct rusage usage {};
        while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
        }
        track(0, pid);
        r.cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                  static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
        if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
    }
    return r;
}

std::string run_capture(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                        int* code, const std::string& cwd) {
    std::string out;
    int rc = run_process(argv, env, [&](const std::string& l) { out += l + "\n"; }, cwd).exit_code;
    if (code) *code = rc;
    return out;
}

}  // namespace z3fh::tool
