// kcc/export/safetensors.h: a small, bounds-checked reader of the safetensors files an
// exported model reads (its weights, and the parity test's data). Header-only C++17.
//
// The format: 8 bytes, the little-endian length L of a JSON header; L bytes of JSON; then
// the raw little-endian tensor bytes. The header is one object: "__metadata__" maps to
// an object of string values, every other key is a tensor name mapping to
//   {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// with offsets relative to the end of the header. That is all safetensors writes, so
// this parser accepts exactly that (strings, non-negative integers, arrays of them,
// objects two deep) and rejects everything else with a message that says where. Every
// length and offset is checked against the buffer before it is used; nothing is read
// outside [bytes, bytes + size). As the reference implementation requires, the tensors'
// byte ranges tile the data exactly: no overlap (two tensors reading the same bytes), no
// gap, nothing after the last one. Tensors point into the caller's buffer (no copies).
//
// A reader that streams a big file parses the header alone (header_length, then
// parse_header with the size of the data that follows it) and reads each tensor's bytes
// from its `offset` straight to where they belong, never holding the whole file.
#ifndef KCC_EXPORT_SAFETENSORS_H
#define KCC_EXPORT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace kcc {
namespace safetensors {

struct Tensor {
    std::string name;
    std::string dtype;                 // "F32", "I32", ...
    std::vector<int64_t> shape;
    int64_t count = 1;                 // elements (product of the shape)
    uint64_t offset = 0;               // where its bytes begin, counted from the end of the header
    const unsigned char* data = nullptr;  // count * dtype_size(dtype) bytes, unaligned (parse only)
};

struct File {
    std::vector<Tensor> tensors;       // in header order
    std::vector<std::pair<std::string, std::string>> metadata;

    const Tensor* find(const std::string& name) const {
        for (const Tensor& t : tensors)
            if (t.name == name) return &t;
        return nullptr;
    }
    const std::string* meta(const std::string& key) const {
        for (const auto& kv : metadata)
            if (kv.first == key) return &kv.second;
        return nullptr;
    }
};

// Bytes per element of a safetensors dtype; 0 for a name it does not define.
inline size_t dtype_size(const std::string& d) {
    if (d == "F64" || d == "I64" || d == "U64") return 8;
    if (d == "F32" || d == "I32" || d == "U32") return 4;
    if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
    if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
    return 0;
}

namespace detail {

constexpr uint64_t kMaxHeader = 100u << 20;   // safetensors' own limit on the JSON header
constexpr int64_t kMaxRank = 32;

class Parser {
public:
    Parser(const unsigned char* p, size_t n) : p_(p), n_(n) {}

    bool fail(const std::string& what) {
        if (error.empty()) error = "invalid header JSON at byte " + std::to_string(8 + i_) + ": " + what;
        return false;
    }
    void ws() {
        while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
    }
    bool peek(char c) { ws(); return i_ < n_ && p_[i_] == (unsigned char)c; }
    bool expect(char c) {
        if (!peek(c)) return fail(std::string("expected '") + c + "'");
        ++i_;
        return true;
    }
    bool at_end() { ws(); return i_ == n_; }

    bool hex4(uint32_t& v) {
        if (n_ - i_ < 4) return fail("truncated \\u escape");
        v = 0;
        for (int k = 0; k < 4; ++k) {
            const unsigned char c = p_[i_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= c - '0';
            else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
            else return fail("bad \\u escape");
        }
        return true;
    }
    static void utf8(std::string& s, uint32_t cp) {
        if (cp < 0x80) s += (char)cp;
        else if (cp < 0x800) { s += (char)(0xC0 | (cp >> 6)); s += (char)(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
            s += (char)(0xE0 | (cp >> 12)); s += (char)(0x80 | ((cp >> 6) & 0x3F));
            s += (char)(0x80 | (cp & 0x3F));
        } else {
            s += (char)(0xF0 | (cp >> 18)); s += (char)(0x80 | ((cp >> 12) & 0x3F));
            s += (char)(0x80 | ((cp >> 6) & 0x3F)); s += (char)(0x80 | (cp & 0x3F));
        }
    }
    bool string(std::string& s) {
        s.clear();
        if (!expect('"')) return false;
        while (true) {
            if (i_ >= n_) return fail("unterminated string");
            const unsigned char c = p_[i_++];
            if (c == '"') return true;
            if (c < 0x20) return fail("control character in a string");
            if (c != '\\') { s += (char)c; continue; }
            if (i_ >= n_) return fail("unterminated escape");
            const unsigned char e = p_[i_++];
            switch (e) {
                case '"': s += '"'; break;
                case '\\': s += '\\'; break;
                case '/': s += '/'; break;
                case 'b': s += '\b'; break;
                case 'f': s += '\f'; break;
                case 'n': s += '\n'; break;
                case 'r': s += '\r'; break;
                case 't': s += '\t'; break;
                case 'u': {
                    uint32_t cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate in \\u escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        uint32_t lo = 0;
                        if (n_ - i_ < 2 || p_[i_] != '\\' || p_[i_ + 1] != 'u')
                            return fail("lone high surrogate in \\u escape");
                        i_ += 2;
                        if (!hex4(lo)) return false;
                        if (lo < 0xDC00 || lo > 0xDFFF) return fail("bad surrogate pair");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    utf8(s, cp);
                    break;
                }
                default: return fail("unknown escape");
            }
        }
    }
    bool uint(uint64_t& v) {
        ws();
        if (i_ >= n_ || p_[i_] < '0' || p_[i_] > '9') return fail("expected a non-negative integer");
        v = 0;
        while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') {
            const uint64_t d = p_[i_++] - '0';
            if (v > (UINT64_MAX - d) / 10) return fail("integer too large");
            v = v * 10 + d;
        }
        if (i_ < n_ && (p_[i_] == '.' || p_[i_] == 'e' || p_[i_] == 'E'))
            return fail("expected an integer, found a fraction");
        return true;
    }
    bool uint_array(std::vector<uint64_t>& out, size_t max_len) {
        out.clear();
        if (!expect('[')) return false;
        if (peek(']')) { ++i_; return true; }
        while (true) {
            uint64_t v;
            if (!uint(v)) return false;
            if (out.size() >= max_len) return fail("array too long");
            out.push_back(v);
            if (peek(',')) { ++i_; continue; }
            return expect(']');
        }
    }
    // { "k": <member>, ... } calling member(key) for each key; false stops.
    template <class F>
    bool object(F&& member) {
        if (!expect('{')) return false;
        if (peek('}')) { ++i_; return true; }
        while (true) {
            std::string key;
            if (!string(key) || !expect(':') || !member(key)) return false;
            if (peek(',')) { ++i_; continue; }
            return expect('}');
        }
    }

    std::string error;

private:
    const unsigned char* p_;
    size_t n_;
    size_t i_ = 0;
};

}  // namespace detail

// The length of the JSON header from a file's first 8 bytes, checked against the
// `size` bytes of the whole file. False (and `error`) for a file too short or a length
// that cannot be.
inline bool header_length(const unsigned char* bytes, uint64_t size, uint64_t& len, std::string& error) {
    if (size < 8) {
        error = "too short: " + std::to_string(size) + " bytes, a safetensors file has at least 8";
        return false;
    }
    len = 0;
    for (int k = 7; k >= 0; --k) len = (len << 8) | bytes[k];
    if (len > detail::kMaxHeader || len > size - 8) {
        error = "truncated or corrupt: the header says it is " + std::to_string(len) +
                " bytes long, but " + std::to_string(size - 8) + " bytes follow the length";
        return false;
    }
    return true;
}

// Parses the `len` bytes of JSON at `json` (the header, after the 8 length bytes) of a
// file whose data section holds `data_size` bytes. Tensors get their offsets, not data.
inline bool parse_header(const unsigned char* json, size_t len, uint64_t data_size, File& out,
                         std::string& error) {
    out = File{};
    std::vector<std::pair<uint64_t, uint64_t>> ranges;   // [begin, end) of every tensor
    detail::Parser js(json, len);
    auto tensor = [&](const std::string& key) {
        if (key == "__metadata__") {
            if (!out.metadata.empty()) return js.fail("two __metadata__ entries");
            return js.object([&](const std::string& k) {
                std::string v;
                if (!js.string(v)) return false;
                out.metadata.emplace_back(k, v);
                return true;
            });
        }
        for (const Tensor& t : out.tensors)
            if (t.name == key) return js.fail("tensor '" + key + "' appears twice");
        Tensor t;
        t.name = key;
        bool has_dtype = false, has_shape = false, has_offsets = false;
        uint64_t begin = 0, end = 0;
        bool ok = js.object([&](const std::string& field) {
            std::vector<uint64_t> v;
            if (field == "dtype" && !has_dtype) {
                has_dtype = true;
                return js.string(t.dtype);
            }
            if (field == "shape" && !has_shape) {
                has_shape = true;
                if (!js.uint_array(v, detail::kMaxRank)) return false;
                for (uint64_t d : v) {
                    if (d > (uint64_t)INT64_MAX || (d != 0 && (uint64_t)t.count > (uint64_t)INT64_MAX / d))
                        return js.fail("tensor '" + key + "' has an impossibly large shape");
                    t.count *= (int64_t)d;
                    t.shape.push_back((int64_t)d);
                }
                return true;
            }
            if (field == "data_offsets" && !has_offsets) {
                has_offsets = true;
                if (!js.uint_array(v, 2)) return false;
                if (v.size() != 2) return js.fail("data_offsets of '" + key + "' must hold two numbers");
                begin = v[0];
                end = v[1];
                return true;
            }
            return js.fail("unexpected or repeated field '" + field + "' in tensor '" + key + "'");
        });
        if (!ok) return false;
        if (!has_dtype || !has_shape || !has_offsets)
            return js.fail("tensor '" + key + "' lacks dtype, shape or data_offsets");
        const size_t width = dtype_size(t.dtype);
        if (width == 0) return js.fail("tensor '" + key + "' has unknown dtype '" + t.dtype + "'");
        if (begin > end || end > data_size) {
            error = "truncated or corrupt: tensor '" + key + "' lies at bytes [" + std::to_string(begin) +
                    ", " + std::to_string(end) + ") of the data, which holds " + std::to_string(data_size);
            return false;
        }
        if ((uint64_t)t.count > (end - begin) / width || (uint64_t)t.count * width != end - begin) {
            error = "corrupt: tensor '" + key + "' (" + t.dtype + ", " + std::to_string(t.count) +
                    " elements) does not fill its " + std::to_string(end - begin) + " bytes";
            return false;
        }
        t.offset = begin;
        ranges.emplace_back(begin, end);
        out.tensors.push_back(std::move(t));
        return true;
    };
    if (!js.object(tensor) || !js.at_end()) {
        if (error.empty()) error = js.error.empty() ? "invalid header JSON: text after the object" : js.error;
        out = File{};
        return false;
    }
    std::sort(ranges.begin(), ranges.end());
    uint64_t at = 0;
    for (const auto& r : ranges) {
        if (r.first != at) {
            error = "corrupt: " + std::string(r.first < at ? "two tensors share" : "no tensor holds") +
                    " the bytes at offset " + std::to_string(r.first < at ? r.first : at) + " of the data";
            out = File{};
            return false;
        }
        at = r.second;
    }
    if (at != data_size) {
        error = "corrupt: " + std::to_string(data_size - at) + " bytes after the last tensor";
        out = File{};
        return false;
    }
    return true;
}

// Parses the `size` bytes at `bytes` (a whole file in memory) into `out`; each tensor's
// `data` points into them. On failure returns false and `error` says what is wrong and
// where (a byte offset into the file).
inline bool parse(const unsigned char* bytes, size_t size, File& out, std::string& error) {
    out = File{};
    if (!bytes) { error = "no data (null pointer)"; return false; }
    uint64_t len = 0;
    if (!header_length(bytes, size, len, error) || !parse_header(bytes + 8, (size_t)len, size - 8 - len, out, error))
        return false;
    for (Tensor& t : out.tensors) t.data = bytes + 8 + len + t.offset;
    return true;
}

}  // namespace safetensors
}  // namespace kcc

#endif  // KCC_EXPORT_SAFETENSORS_H
