// kcc._runtime: the Python face of kcc::Session. Built once at install (CMake), never
// per model: each model is a plain C++ shared library the Session dlopens.
#include <pybind11/pybind11.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <pybind11/functional.h>

#include <mutex>

#include "../runtime/session.h"

namespace py = pybind11;

namespace {

py::dict tensor_info(const KccTensorInfo& t) {
    py::dict d;
    d["name"] = t.name;
    d["dtype"] = t.dtype == KCC_INT32 ? "int32" : "float32";
    py::list dims;
    for (int i = 0; i < t.rank; ++i) dims.append(t.dims[i]);
    d["shape"] = py::tuple(dims);
    d["size"] = t.size;
    return d;
}

// Arrays arrive validated by kcc/runtime (C-contiguous, right dtype and row size); this
// layer only checks what it must not get wrong: that the pointers cover the rows used.
std::vector<kcc::HostArray> host_arrays(const std::vector<py::array>& arrays, int64_t n,
                                        const KccTensorInfo* infos) {
    std::vector<kcc::HostArray> out;
    for (size_t i = 0; i < arrays.size(); ++i) {
        const py::array& a = arrays[i];
        if (!(a.flags() & py::array::c_style)) throw std::invalid_argument("array must be C-contiguous");
        const int64_t row_bytes = infos[i].size * 4;
        if (a.ndim() < 1 || a.shape(0) < n || a.nbytes() < n * row_bytes)
            throw std::invalid_argument(std::string("array for '") + infos[i].name + "' is too small");
        out.push_back({a.data(), n, row_bytes});
    }
    return out;
}

struct PySession {
    explicit PySession(const std::string& path) : s(path) {}
    kcc::Session s;
    std::vector<py::array> weights;   // keep the layers' buffers alive while bound
    // One call at a time: the arena is shared. Recursive because a callback inside fit runs
    // on the calling thread between two steps, and may predict or evaluate there.
    std::recursive_mutex mu;
};

}  // namespace

PYBIND11_MODULE(_runtime, m, py::mod_gil_not_used()) {
    m.doc() = "kcc native runtime: drives generated model libraries";

    py::class_<PySession>(m, "Session", py::module_local())
        .def(py::init<const std::string&>(), py::arg("library_path"))
        .def_property_readonly("info", [](PySession& p) {
            const KccModelInfo& i = p.s.info();
            py::dict d;
            d["model_name"] = i.model_name;
            py::list ins, outs, tgts, ws, stats;
            for (int k = 0; k < i.n_inputs; ++k) ins.append(tensor_info(i.inputs[k]));
            for (int k = 0; k < i.n_outputs; ++k) outs.append(tensor_info(i.outputs[k]));
            if (i.targets) for (int k = 0; k < i.n_outputs; ++k) tgts.append(tensor_info(i.targets[k]));
            for (int k = 0; k < i.n_weights; ++k) {
                py::list dims;
                for (int r = 0; r < i.weights[k].rank; ++r) dims.append(i.weights[k].dims[r]);
                ws.append(py::make_tuple(i.weights[k].name, py::tuple(dims)));
            }
            for (int k = 0; k < i.n_stats; ++k) stats.append(i.stat_names[k]);
            d["inputs"] = ins; d["outputs"] = outs; d["targets"] = tgts; d["weights"] = ws;
            d["stat_names"] = stats;
            d["arena_per_sample"] = i.arena_per_sample;
            d["grads_size"] = i.grads_size;
            d["opt_state_size"] = i.opt_state_size;
            d["trainable"] = (bool)i.trainable;
            return d;
        })
        .def("bind_weights", [](PySession& p, std::vector<py::array_t<float, 0>> arrays) {
            std::vector<float*> ptrs;
            std::vector<py::array> keep;
            const KccModelInfo& i = p.s.info();
            if ((int)arrays.size() != i.n_weights) throw std::invalid_argument("wrong number of weights");
            for (int k = 0; k < i.n_weights; ++k) {
                auto& a = arrays[k];
                if (!(a.flags() & py::array::c_style) || !a.writeable() || a.size() != i.weights[k].size)
                    throw std::invalid_argument(std::string("bad buffer for weight ") + i.weights[k].name);
                ptrs.push_back(a.mutable_data());
                keep.push_back(a);
            }
            std::lock_guard<std::recursive_mutex> lock(p.mu);
            p.s.bind_weights(ptrs);
            p.weights = std::move(keep);
        })
        .def("reset_optimizer", [](PySession& p) { std::lock_guard<std::recursive_mutex> l(p.mu); p.s.reset_optimizer(); })
        .def("set_hparams", [](PySession& p, const std::vector<float>& h) { p.s.set_hparams(h); })
        .def("set_threads", [](PySession& p, int t) { p.s.set_threads(t); })
        .def_property("step", [](PySession& p) { return p.s.step(); },
                      [](PySession& p, int64_t s) { p.s.set_step(s); })
        .def("optimizer_state", [](PySession& p) {
            auto& st = p.s.opt_state();
            return py::array_t<float>((py::ssize_t)st.size(), st.data());
        })
        .def("set_optimizer_state", [](PySession& p, py::array_t<float, py::array::c_style | py::array::forcecast> a) {
            auto& st = p.s.opt_state();
            if ((size_t)a.size() != st.size()) throw std::invalid_argument("optimizer state has the wrong size");
            std::copy(a.data(), a.data() + a.size(), st.begin());
        })
        .def("train_epoch", [](PySession& p, std::vector<py::array> x, std::vector<py::array> y, int64_t n,
                               int64_t batch_size, bool shuffle, uint64_t seed, py::object hook,
                               bool every_batch, double interval_s) {
            const KccModelInfo& i = p.s.info();
            auto hx = host_arrays(x, n, i.inputs);
            auto hy = host_arrays(y, n, i.targets);
            kcc::BatchHook cb;
            if (!hook.is_none()) {
                cb = [&hook](bool begin, int64_t batch, int64_t seen, const std::vector<double>& sums) {
                    py::gil_scoped_acquire gil;
                    return hook(begin, batch, seen, sums).cast<bool>();
                };
            }
            kcc::EpochResult r;
            {
                py::gil_scoped_release nogil;
                std::lock_guard<std::recursive_mutex> lock(p.mu);
                r = p.s.train_epoch(hx, hy, n, batch_size, shuffle, seed, cb, every_batch, interval_s);
            }
            return py::make_tuple(r.sums, r.seen, r.stopped);
        })
        .def("test", [](PySession& p, std::vector<py::array> x, std::vector<py::array> y, int64_t n,
                        int64_t batch_size) {
            const KccModelInfo& i = p.s.info();
            auto hx = host_arrays(x, n, i.inputs);
            auto hy = host_arrays(y, n, i.targets);
            kcc::EpochResult r;
            {
                py::gil_scoped_release nogil;
                std::lock_guard<std::recursive_mutex> lock(p.mu);
                r = p.s.test(hx, hy, n, batch_size);
            }
            return py::make_tuple(r.sums, r.seen);
        })
        .def("gradients", [](PySession& p, std::vector<py::array> x, std::vector<py::array> y, int64_t n,
                             uint64_t seed) {
            const KccModelInfo& i = p.s.info();
            auto hx = host_arrays(x, n, i.inputs);
            auto hy = host_arrays(y, n, i.targets);
            kcc::EpochResult r;
            py::list grads;
            {
                py::gil_scoped_release nogil;
                std::lock_guard<std::recursive_mutex> lock(p.mu);
                r = p.s.gradients(hx, hy, n, seed);
            }
            const auto& g = p.s.grads();
            for (int k = 0; k < i.n_weights; ++k) {
                const KccWeightInfo& w = i.weights[k];
                if (w.grad_offset < 0) { grads.append(py::none()); continue; }
                py::array_t<float> a(w.size);
                std::copy(g.data() + w.grad_offset, g.data() + w.grad_offset + w.size, a.mutable_data());
                grads.append(a);
            }
            return py::make_tuple(r.sums, grads);
        })
        .def("predict", [](PySession& p, std::vector<py::array> x, std::vector<py::array_t<float, 0>> out,
                           int64_t n, int64_t batch_size) {
            const KccModelInfo& i = p.s.info();
            auto hx = host_arrays(x, n, i.inputs);
            std::vector<float*> o;
            for (size_t k = 0; k < out.size(); ++k) {
                if (!(out[k].flags() & py::array::c_style) || out[k].size() < n * i.outputs[k].size)
                    throw std::invalid_argument("output buffer too small");
                o.push_back(out[k].mutable_data());
            }
            py::gil_scoped_release nogil;
            std::lock_guard<std::recursive_mutex> lock(p.mu);
            p.s.predict(hx, o, n, batch_size);
        });
}
