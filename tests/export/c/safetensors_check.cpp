// Parses each file named on the command line with kcc/export/safetensors.h and prints one
// line per file: "ok <tensors>" or "error <message>".
#include <stdio.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kcc/export/safetensors.h"

int main(int argc, char** argv) {
    for (int k = 1; k < argc; ++k) {
        std::ifstream in(argv[k], std::ios::binary);
        std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        kcc::safetensors::File file;
        std::string error;
        if (kcc::safetensors::parse(bytes.data(), bytes.size(), file, error))
            printf("ok %zu\n", file.tensors.size());
        else
            printf("error %s\n", error.c_str());
    }
    return 0;
}
