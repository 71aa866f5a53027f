// kcc runtime: see pool.h.
#include "pool.h"

#include <immintrin.h>

namespace kcc {

namespace {
constexpr int kSpins = 20000;   // ~50-100 us of polling before sleeping
}

Pool::Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

Pool::~Pool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

void Pool::run(int parts, const std::function<void(int)>& task) {
    if (parts <= 1 || workers_.empty()) {
        for (int p = 0; p < parts; ++p) task(p);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        task_ = &task;
        parts_ = parts;
        pending_.store(parts - 1, std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    task(0);
    // Spin while the others finish (they usually do within microseconds); yield if one
    // was descheduled, so an oversubscribed machine does not burn our core waiting.
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
        if (spins < kSpins) _mm_pause();
        else std::this_thread::yield();
    }
}

void Pool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (generation_.load(std::memory_order_acquire) == seen && spins < kSpins) {
            _mm_pause();
            ++spins;
        }
        if (generation_.load(std::memory_order_acquire) == seen) {
            std::unique_lock<std::mutex> lock(mu_);
            wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        }
        const std::function<void(int)>* task;
        int parts;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (stop_) return;
            seen = generation_.load(std::memory_order_acquire);
            task = task_;
            parts = parts_;
        }
        if (index < parts) {
            (*task)(index);
            pending_.fetch_sub(1, std::memory_order_acq_rel);
        }
    }
}

}  // namespace kcc
