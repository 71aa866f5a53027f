// kcc runtime: a tiny persistent thread pool for data-parallel steps.
//
// A training step at batch 32 lasts ~100 us, so waking threads through the kernel for
// every step would cost a large share of it. Workers spin briefly on a generation
// counter (cheap while steps come back to back) and then sleep on a condition variable
// (so an idle pool costs nothing between epochs). The caller thread is worker 0.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kcc {

class Pool {
public:
    explicit Pool(int threads);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    int size() const { return (int)workers_.size() + 1; }
    // Runs task(0) .. task(parts - 1), parts <= size(), and returns when all are done.
    void run(int parts, const std::function<void(int)>& task);

private:
    void worker(int index);

    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable wake_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    const std::function<void(int)>* task_ = nullptr;
    int parts_ = 0;
    bool stop_ = false;
};

}  // namespace kcc
