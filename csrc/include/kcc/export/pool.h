// kcc/export/pool.h: the worker threads of an exported model handle and of kcc's Python
// runtime (KccRun::parallel, and the runtime's batch shards).
//
// The export's runtime (kcc/export/runtime.h) gives each handle one Pool; the generated
// unit hands its big ops to it as tasks (kcc/parallel.h). The Python runtime
// (csrc/runtime/session.cpp) runs a training step's batch shards and the unit's tasks on
// one too. Standalone: C++17 and the system's threads, nothing from the Python runtime.
#ifndef KCC_EXPORT_POOL_H
#define KCC_EXPORT_POOL_H

#include <stdint.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define KCC_EXPORT_FTZ 1
#endif
#if defined(__linux__) && defined(_GNU_SOURCE)
#include <sched.h>
#define KCC_EXPORT_AFFINITY 1
#endif

namespace kcc {
namespace exported {

// ---- threads: a handle's worker pool -------------------------------------------------------

constexpr const char* kThreadsEnv = "KCC_NUM_THREADS";  // the default thread count, when set
constexpr int kMaxThreads = 1024;

// The thread count of a handle left at its default: KCC_NUM_THREADS when it holds a count
// in [1, kMaxThreads], else the CPUs this process may run on (its affinity mask on Linux,
// std::thread::hardware_concurrency() elsewhere).
inline int default_threads() {
    if (const char* env = getenv(kThreadsEnv)) {
        char* end = nullptr;
        const long v = strtol(env, &end, 10);
        if (end != env && *end == '\0' && v >= 1 && v <= kMaxThreads) return (int)v;
    }
#ifdef KCC_EXPORT_AFFINITY
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return std::min(CPU_COUNT(&set), kMaxThreads);
#endif
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : (int)std::min<unsigned>(hw, (unsigned)kMaxThreads);
}

// A processor hint inside a spin loop (the other thread of a core runs meanwhile).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// KccRun::parallel for one handle: the thread calling predict is worker 0, `threads - 1`
// more start on the first parallel op. Tasks are claimed one at a time from a ticket that
// also carries the op's generation, so uneven tasks balance, the caller never waits for a
// worker that has not woken yet (it takes the remaining tasks itself), and a worker that
// wakes late cannot claim a task of the next op. Between ops, workers spin briefly (a
// model's ops come back to back) and then sleep on a condition variable, so an idle handle
// costs no CPU. The destructor wakes and joins them.
class Pool {
public:
    using Fn = void (*)(void* ctx, int64_t task, int64_t worker);

    explicit Pool(int threads) : threads_(threads) {}
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    ~Pool() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
            ticket_.store(((generation() + 1) & kMask) << 32, std::memory_order_release);
        }
        wake_.notify_all();
        for (std::thread& t : workers_) t.join();
    }

    int size() const { return threads_; }

    // The KccRun::parallel hook: fn(ctx, task, worker) for every task in [0, tasks).
    static void entry(void* pool, int64_t tasks, Fn fn, void* ctx) { static_cast<Pool*>(pool)->run(tasks, fn, ctx); }

    void run(int64_t tasks, Fn fn, void* ctx) {
        if (tasks > 1 && tasks <= (int64_t)kMask) start();
        if (tasks <= 1 || workers_.empty() || tasks > (int64_t)kMask) {
            for (int64_t t = 0; t < tasks; ++t) fn(ctx, t, 0);
            return;
        }
        uint64_t gen;
        {
            std::lock_guard<std::mutex> lock(mu_);
            gen = (generation() + 1) & kMask;
            fn_ = fn;
            ctx_ = ctx;
            tasks_ = tasks;
            done_.store(0, std::memory_order_relaxed);
            ticket_.store(gen << 32, std::memory_order_release);
        }
        wake_.notify_all();
        work_on(gen, tasks, fn, ctx, 0);
        // The last tasks are running on workers; they usually finish within microseconds.
        // Yield after a while, so an oversubscribed machine does not burn our core waiting.
        for (int spins = 0; done_.load(std::memory_order_acquire) < tasks; ++spins) {
            if (spins < kSpins) cpu_relax();
            else std::this_thread::yield();
        }
    }

private:
    static constexpr uint64_t kMask = 0xffffffffu;  // a ticket: generation << 32 | next task
    static constexpr int kSpins = 20000;             // pauses of polling (0.1-1 ms) before sleeping

    uint64_t generation() const { return ticket_.load(std::memory_order_acquire) >> 32; }

    // Starts the workers, once; on a system that refuses a thread, the ones started help.
    void start() {
        if (started_) return;
        started_ = true;
        const uint64_t gen = generation();
        try {
            for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i, gen] { worker(i, gen); });
        } catch (...) {
        }
    }

    // Claims and runs tasks of generation `gen` until none is left.
    void work_on(uint64_t gen, int64_t tasks, Fn fn, void* ctx, int64_t worker) {
        uint64_t cur = ticket_.load(std::memory_order_acquire);
        for (;;) {
            if ((cur >> 32) != gen || (int64_t)(cur & kMask) >= tasks) return;
            if (!ticket_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire))
                continue;
            fn(ctx, (int64_t)(cur & kMask), worker);
            done_.fetch_add(1, std::memory_order_release);
            cur = ticket_.load(std::memory_order_acquire);
        }
    }

    void worker(int index, uint64_t seen) {
#ifdef KCC_EXPORT_FTZ
        _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ | DAZ, as the caller runs the unit
#endif
        for (;;) {
            for (int spins = 0; generation() == seen && spins < kSpins; ++spins) cpu_relax();
            Fn fn;
            void* ctx;
            int64_t tasks;
            {
                std::unique_lock<std::mutex> lock(mu_);
                wake_.wait(lock, [&] { return stop_ || generation() != seen; });
                if (stop_) return;
                seen = generation();
                fn = fn_;
                ctx = ctx_;
                tasks = tasks_;
            }
            work_on(seen, tasks, fn, ctx, index);
        }
    }

    const int threads_;
    bool started_ = false;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable wake_;
    alignas(64) std::atomic<uint64_t> ticket_{0};  // polled by idle workers ...
    alignas(64) std::atomic<int64_t> done_{0};     // ... and tasks finished, by the caller
    Fn fn_ = nullptr;          // the current op, under mu_
    void* ctx_ = nullptr;
    int64_t tasks_ = 0;
    bool stop_ = false;
};

}  // namespace exported
}  // namespace kcc

#endif  // KCC_EXPORT_POOL_H
