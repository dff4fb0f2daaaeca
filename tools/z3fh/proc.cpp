// z3fold-harden: subprocesses.
#include "proc.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace z3fh::tool {

namespace {
// Children now running (score runs several at once); read by the SIGINT
// handler, so plain lock-free slots.
constexpr int kMaxChildren = 64;
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


ProcResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                       const std::function<void(const std::string&)>& on_line, const std::string& cwd,
                       unsigned timeout_s, std::atomic<pid_t>* started) {
    ProcResult r;
    int fds[2] = {-1, -1};
    // Close-on-exec: a child started meanwhile by another thread must not
    // hold our pipe's write end open.
    if (on_line && pipe2(fds, O_CLOEXEC) != 0) return r;
    pid_t pid = fork();
    if (pid < 0) return r;
    if (pid == 0) {
        setpgid(0, 0);  // its own group: Ctrl-C reaches it through us
        if (on_line) {
            dup2(fds[1], 1);
            dup2(fds[1], 2);
            close(fds[0]);
            close(fds[1]);
        }
        if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
        if (timeout_s > 0) alarm(timeout_s);  // survives exec: SIGALRM ends a child that overruns
        for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    track(pid, 0);
    if (started) *started = pid;
    if (on_line) {
        close(fds[1]);
        std::string buf;
        char chunk[8192];
        ssize_t n;
        while ((n = read(fds[0], chunk, sizeof chunk)) > 0) {
            buf.append(chunk, static_cast<size_t>(n));
            size_t pos;
            while ((pos = buf.find_first_of("\n\r")) != std::string::npos) {
                std::string line = buf.substr(0, pos);
                buf.erase(0, pos + 1);
                if (!line.empty()) on_line(line);
            }
        }
        if (!buf.empty()) on_line(buf);
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
